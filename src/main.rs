//! The Keyward server binary.

use keyward::clock::Clock;
use keyward::config::Config;
use keyward::server;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("keyward: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log_filter))
        .init();
    let addr = config.addr;
    let public_url = config.public_url.clone();
    let prepared = match server::prepare(config, Clock::default()).await {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(%error, "could not open the store");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, %addr, "could not listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(%public_url, "Keyward is listening");
    if let Some(link) = &prepared.setup_link {
        // Printed, not logged: the link is a one-time secret for whoever started the server.
        println!(
            "\nNo users yet. Open this one-time link to create the first admin:\n\n  {link}\n"
        );
    }
    match server::serve(prepared, listener).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
