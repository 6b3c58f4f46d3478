fn main() -> std::process::ExitCode {
    qollab_server::cli::main()
}
