use std::process::ExitCode;

fn main() -> ExitCode {
    pmuwatch::cli::main()
}
