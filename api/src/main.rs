use std::process::ExitCode;

use chrono::Utc;
use clap::Parser;
use pipewise_api::{
    config::{Cli, Command, DemoArgs},
    demo::{self, DemoOptions},
    openapi_yaml, telemetry, Application,
};

// glibc's malloc keeps the 19 MiB of a finished password hash in its heap
// (its mmap threshold grows with each such block): measured, two hashing
// threads left 400 MB resident; mimalloc returns large blocks to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match cli.command {
        // A bulk insert is slow by nature; its text is far too long for a log line.
        Some(Command::Demo(_)) => format!("{},sqlx::query=error", cli.config.log),
        _ => cli.config.log.clone(),
    };
    telemetry::init(&log, cli.config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", openapi_yaml());
            Ok(())
        }
        Command::Migrate => pipewise_storage::connect(
            &cli.config.database_url,
            std::sync::Arc::new(pipewise_api::render::ApiRender),
        )
        .await
        .map(|_| println!("migrations applied to {}", redact(&cli.config.database_url)))
        .map_err(|e| e.to_string()),
        Command::Serve => serve(cli.config).await,
        Command::Demo(args) => demo(&cli.config.database_url, args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pipewise: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: pipewise_api::Config) -> Result<(), String> {
    let bind = config.bind.clone();
    let app = Application::build(config).await.map_err(|e| e.to_string())?;
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
    let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
    println!("Pipewise is listening on http://{host}:{}", app.port());
    println!("Swagger UI: http://{host}:{}/docs/", app.port());
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn demo(database_url: &str, args: DemoArgs) -> Result<(), String> {
    let options = DemoOptions {
        deals: args.deals,
        years: args.years,
        seed: args.seed.unwrap_or_else(rand::random),
        progress: true,
    };
    eprintln!("demo: writing {} deals to {}", options.deals, redact(database_url));
    // The one reading of the clock: the history ends now.
    let summary = demo::run(database_url, &options, Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", demo::describe(&summary));
    Ok(())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://…@{}", &url[..scheme_end], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
