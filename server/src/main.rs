// See the note on the dependency in Cargo.toml: glibc's arenas made the soak grow.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    qollab_server::cli::main()
}
