//! `qollab-shared`: the vocabulary the server, the client and the engine speak.
//!
//! Pure data and pure logic only: no I/O, no actix, no sea-orm.

/// A closed set of strings the API sends, declared once: the enum (its OpenAPI schema
/// lists the values), `VALUES`, and `as_str` (a `const fn`, so constants can be made from
/// it). See `api::wire`.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $value:tt),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $(#[serde(rename = $value)] $variant),+
        }

        impl $name {
            /// Every value, as sent.
            pub const VALUES: &'static [&'static str] = &[$($value),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }

            /// The value sent as `s`, if it is one.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// [`Self::parse`], or the message a client is shown for a bad value.
            pub fn parse_or_explain(s: &str) -> Result<Self, String> {
                Self::parse(s)
                    .ok_or_else(|| format!("{s:?} is not one of {}", Self::VALUES.join(", ")))
            }
        }
    };
}
pub(crate) use wire_enum;

/// A page of a list that can grow, declared once per item type: every such list answers
/// `{items, next_cursor}` (see [`api::Page`]), each under its own schema name (utoipa's
/// generic schemas leave dangling references).
macro_rules! page {
    ($(#[$m:meta])* $name:ident of $item:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `?cursor=` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl $crate::api::Page for $name {
            type Item = $item;

            fn from_parts(items: Vec<$item>, next_cursor: Option<String>) -> Self {
                Self { items, next_cursor }
            }

            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.items, self.next_cursor)
            }
        }
    };
}
pub(crate) use page;

pub mod analysis;
pub mod analytics;
pub mod api;
pub mod circuit;
pub mod doc;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod notify;
pub mod progress;
pub mod quest;
pub mod sync;
pub mod validate;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The names of the types that derive `ToSchema` (or are made by `wire_enum!`) in `text`.
    fn schema_names(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut pending = false;
        let mut derive: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") {
                derive = Some(String::new());
            }
            if let Some(d) = derive.as_mut() {
                d.push_str(line);
                if line.ends_with(")]") {
                    pending |= d.contains("ToSchema");
                    derive = None;
                }
                continue;
            }
            if line.starts_with("wire_enum!(") {
                pending = true;
                continue;
            }
            if !pending || line.starts_with("#[") || line.starts_with("///") || line.is_empty() {
                continue;
            }
            let rest = ["pub struct ", "pub enum ", "struct ", "enum "]
                .iter()
                .find_map(|p| line.strip_prefix(p))
                .unwrap_or(line);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
            pending = false;
        }
        names
    }

    /// OpenAPI component names are one namespace: utoipa keeps the last of two types with the
    /// same name, so the other's responses are documented wrong (two `AiUsage`s did that).
    #[test]
    fn no_two_api_types_share_a_schema_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("../server/src"), &mut files);
        assert!(files.len() > 20, "found only {} source files", files.len());
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            for name in schema_names(&text) {
                seen.entry(name)
                    .or_default()
                    .push(file.display().to_string());
            }
        }
        assert!(
            seen.contains_key("JobStatus") && seen.contains_key("AiUsage"),
            "{seen:?}"
        );
        let dupes: Vec<_> = seen.iter().filter(|(_, files)| files.len() > 1).collect();
        assert!(dupes.is_empty(), "schema names used twice: {dupes:?}");
    }

    #[test]
    fn schema_names_are_read_from_derives_and_wire_enums() {
        let text = "#[derive(Debug, ToSchema)]\n/// doc\n#[serde(x)]\npub struct A {\n}\n\
                    #[derive(Debug)]\npub struct B;\nwire_enum!(\n    /// doc\n    C { X = \"x\" }\n);\n\
                    #[derive(\n    Debug, Clone, ToSchema,\n)]\npub enum D {}\n";
        assert_eq!(schema_names(text), ["A", "C", "D"]);
    }
}
