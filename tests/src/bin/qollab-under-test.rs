//! Exactly the `qollab` binary, built inside the test package so that end-to-end tests
//! can start it as a child process.
fn main() -> std::process::ExitCode {
    qollab_server::cli::main()
}
