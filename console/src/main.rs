//! `fluvio`: the command line. All the work is in [`console::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = console::frontend::Env::from_process();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(console::frontend::EXIT_FAILED);
        }
    };
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let code = runtime.block_on(console::cli::run(
        std::env::args_os(),
        &env,
        &mut stdout,
        &mut stderr,
    ));
    ExitCode::from(code)
}
