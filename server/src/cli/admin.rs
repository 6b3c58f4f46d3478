//! `qollab admin …`: operator commands that work on the configured database directly
//! (`QOLLAB_DATABASE_URL`, `QOLLAB_DATA_DIR`), with no server and no account needed.

use clap::Subcommand;
use qollab_shared::api::Plan;
use uuid::Uuid;

use crate::app::open_storage;
use crate::config::Config;
use crate::db::{Db, DbOptions};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Organizations and their plans.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Re-encrypt every stored third-party secret (workspace IBM keys) under
    /// QOLLAB_SECRET_KEY; keys in QOLLAB_SECRET_KEY_PREVIOUS are no longer needed after.
    RotateSecrets,
}

#[derive(Subcommand)]
pub enum OrgsCommand {
    /// Every organization: id, plan, quotas, members, name.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Set an organization's plan (free, pro, enterprise); its quotas become the plan's.
    SetPlan {
        /// Organization id, or its exact name when that is unique.
        org: String,
        /// free, pro or enterprise.
        plan: String,
    },
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    crate::telemetry::init(&config.log, config.log_json);
    let (db, secrets) = open_storage(&config, &DbOptions::default()).await?;
    let result = match cmd {
        AdminCommand::Orgs(OrgsCommand::List { json }) => list(&db, json).await,
        AdminCommand::Orgs(OrgsCommand::SetPlan { org, plan }) => set_plan(&db, &org, &plan).await,
        AdminCommand::RotateSecrets => {
            let r = db
                .reseal_ibm_keys(&secrets, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "workspace IBM keys: {} re-encrypted under key {}, {} already under it, {} could not be decrypted",
                r.resealed,
                secrets.current_id(),
                r.already_current,
                r.failed
            );
            if r.failed > 0 {
                Err(anyhow::anyhow!(
                    "{} key(s) could not be decrypted: add the key they were sealed with to QOLLAB_SECRET_KEY_PREVIOUS and run this again",
                    r.failed
                ))
            } else {
                Ok(())
            }
        }
    };
    db.close().await;
    result
}

async fn list(db: &Db, json: bool) -> anyhow::Result<()> {
    let orgs = db.all_orgs().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !json {
        println!(
            "{:<36}  {:<10}  {:>6}  {:>9}  {:>4}  {:>7}  NAME",
            "ID", "PLAN", "QUBITS", "SHOTS", "JOBS", "MEMBERS"
        );
    }
    for (o, members) in orgs {
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "id": o.id, "name": o.name, "plan": o.plan, "personal": o.personal,
                    "max_qubits": o.max_qubits, "max_shots": o.max_shots,
                    "max_concurrent_jobs": o.max_concurrent_jobs, "members": members,
                    "created_at": o.created_at,
                })
            );
        } else {
            println!(
                "{:<36}  {:<10}  {:>6}  {:>9}  {:>4}  {:>7}  {}{}",
                o.id,
                o.plan,
                o.max_qubits,
                o.max_shots,
                o.max_concurrent_jobs,
                members,
                o.name,
                if o.personal { " (personal)" } else { "" }
            );
        }
    }
    Ok(())
}

async fn set_plan(db: &Db, org: &str, plan: &str) -> anyhow::Result<()> {
    let Some(plan) = Plan::parse(plan.trim()) else {
        anyhow::bail!("unknown plan {plan:?}: one of free, pro, enterprise");
    };
    let id = match Uuid::parse_str(org.trim()) {
        Ok(id) => id,
        Err(_) => {
            let all = db.all_orgs().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let named: Vec<_> = all.iter().filter(|(o, _)| o.name == org).collect();
            match named.as_slice() {
                [(o, _)] => o.id,
                [] => anyhow::bail!("no organization named {org:?} (`qollab admin orgs list`)"),
                _ => anyhow::bail!(
                    "{} organizations are named {org:?}; give the id (`qollab admin orgs list`)",
                    named.len()
                ),
            }
        }
    };
    let o = db
        .set_org_plan(id, plan)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no organization {id}"))?;
    tracing::info!(org_id = %o.id, plan = %o.plan, "organization plan set by the operator");
    println!(
        "{} ({}) is now on the {} plan: {} qubits, {} shots, {} concurrent jobs",
        o.name, o.id, o.plan, o.max_qubits, o.max_shots, o.max_concurrent_jobs
    );
    Ok(())
}
