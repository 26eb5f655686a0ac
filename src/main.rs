//! The Keyward server binary: `keyward` (or `keyward serve`) runs the server;
//! `keyward audit verify` checks the audit log's hash chains;
//! `keyward service-token create` makes a token for scripted deployments;
//! `keyward openapi` prints the OpenAPI document (`docs/openapi.json`);
//! `keyward check-config` prints the effective configuration, secrets masked;
//! `keyward migrate` migrates the store and exits; `keyward backup <file>`
//! copies the SQLite store while the server runs.

use clap::{Parser, Subcommand};
use keyward::clock::Clock;
use keyward::config::Config;
use keyward::server;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The crate version, and the commit when the build was given one
/// (`scripts/build-release` sets `KEYWARD_BUILD_COMMIT` from git).
fn version_text() -> &'static str {
    static TEXT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| match option_env!("KEYWARD_BUILD_COMMIT") {
            Some(commit) if !commit.is_empty() => {
                format!("{} (commit {commit})", env!("CARGO_PKG_VERSION"))
            }
            _ => env!("CARGO_PKG_VERSION").to_owned(),
        });
    &TEXT
}

#[derive(Parser)]
#[command(name = "keyward", version = version_text(), about = "Self-hostable API-key service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the APIs (the default).
    Serve,
    /// Work with the audit log in the configured database.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with the service tokens that call the verification API.
    ServiceToken {
        #[command(subcommand)]
        command: ServiceTokenCommand,
    },
    /// Work with dashboard users' accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI 3.1 document of the JSON APIs (as served at /openapi.json).
    Openapi,
    /// Print the effective configuration (secrets masked); exit 2 naming the first bad variable.
    CheckConfig,
    /// Apply the database migrations that are missing, then exit (for deploy pipelines).
    Migrate,
    /// Write a consistent copy of the SQLite store to FILE while the server runs.
    Backup {
        /// Where to write the copy; must not exist yet.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ServiceTokenCommand {
    /// Create a token and print it once (it is stored only as a digest).
    Create {
        /// The workspace's slug, as in its URL.
        #[arg(long)]
        workspace: String,
        /// What the token is for, e.g. "billing-api production".
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Print a one-time link (valid 1 hour) with which the user sets a new password.
    ResetPassword {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chains and report the first broken link; exits 1 if there is one.
    Verify {
        /// Check only this workspace's chain (its id).
        #[arg(long)]
        workspace: Option<String>,
        /// A chain head recorded earlier (`GET /api/v1/audit/head`, the
        /// `audit.checkpoint` webhook): fail unless the log still holds that
        /// entry with that hash. Repeatable.
        #[arg(long, value_name = "SEQ:HASH")]
        checkpoint: Vec<keyward::audit::chain::Checkpoint>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no configuration or store: `keyward openapi > docs/openapi.json` works anywhere.
    if let Some(Command::Openapi) = cli.command {
        print!("{}", keyward::http::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("keyward: {error}");
            if matches!(cli.command, Some(Command::CheckConfig)) {
                eprintln!(
                    "keyward: the configuration is NOT valid (see README, \"Configuration\")"
                );
            }
            return ExitCode::from(2);
        }
    };
    if let Some(Command::CheckConfig) = cli.command {
        return check_config(&config);
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log_filter))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        None | Some(Command::Serve) => serve(config).await,
        Some(Command::Audit {
            command:
                AuditCommand::Verify {
                    workspace,
                    checkpoint,
                },
        }) => verify_audit(config, workspace.as_deref(), &checkpoint).await,
        Some(Command::ServiceToken {
            command: ServiceTokenCommand::Create { workspace, name },
        }) => create_service_token(config, &workspace, &name).await,
        Some(Command::User {
            command: UserCommand::ResetPassword { email },
        }) => reset_password_link(config, &email).await,
        Some(Command::Migrate) => migrate(config).await,
        Some(Command::Backup { file }) => backup(config, &file).await,
        Some(Command::Openapi | Command::CheckConfig) => ExitCode::SUCCESS,
    }
}

fn check_config(config: &Config) -> ExitCode {
    println!("keyward {}", version_text());
    for (name, value) in config.describe() {
        let source = if std::env::var_os(name).is_some() {
            "set"
        } else {
            "default"
        };
        println!("{name:<38} {value}  ({source})");
    }
    let pkg = std::path::Path::new(&config.site_root).join("pkg");
    if !pkg.is_dir() {
        // Not fatal (the APIs work without it), but the dashboard would have no script or style.
        println!(
            "warning: {} does not exist: the dashboard's wasm, JS and CSS will not be found",
            pkg.display()
        );
    }
    println!("configuration OK");
    ExitCode::SUCCESS
}

async fn migrate(config: Config) -> ExitCode {
    match keyward::db::Db::open(&config.database_url).await {
        Ok(db) => {
            let version: Result<i64, _> =
                sqlx::query_scalar("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations")
                    .fetch_one(db.pool())
                    .await;
            db.close().await;
            match version {
                Ok(version) => println!("database migrated: schema version {version}"),
                Err(_) => println!("database migrated"),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyward: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn backup(config: Config, file: &std::path::Path) -> ExitCode {
    match keyward::backup::backup_sqlite(&config.database_url, file).await {
        Ok(bytes) => {
            println!("backup written to {} ({bytes} bytes)", file.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyward: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    let addr = config.addr;
    let public_url = config.public_url.clone();
    let pkg = std::path::Path::new(&config.site_root).join("pkg");
    if !pkg.is_dir() {
        tracing::warn!(site_root = %config.site_root, "no pkg/ under the site root: pages will load without their script and style (set LEPTOS_SITE_ROOT)");
    } else {
        tracing::info!(site_root = %config.site_root, "serving the site");
    }
    let prepared = match server::prepare(config, Clock::default()).await {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(%error, "could not start");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, %addr, "could not listen");
            return ExitCode::FAILURE;
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
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server stopped");
            ExitCode::FAILURE
        }
    }
}

async fn verify_audit(
    config: Config,
    workspace: Option<&str>,
    checkpoints: &[keyward::audit::chain::Checkpoint],
) -> ExitCode {
    let db = match keyward::db::Db::open(&config.database_url).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("keyward: could not open the store: {error}");
            return ExitCode::from(2);
        }
    };
    let result = check_audit_log(&db, workspace, checkpoints).await;
    db.close().await;
    match result {
        Ok(Ok(checked)) => {
            println!("audit log intact: {checked} entries checked");
            if !checkpoints.is_empty() {
                println!("matches {} checkpoint(s)", checkpoints.len());
            }
            ExitCode::SUCCESS
        }
        Ok(Err(broken)) => {
            println!("audit log BROKEN {broken}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("keyward: could not read the audit log: {error}");
            ExitCode::from(2)
        }
    }
}

/// The chains, then each checkpoint: the entries checked, or what is wrong.
async fn check_audit_log(
    db: &keyward::db::Db,
    workspace: Option<&str>,
    checkpoints: &[keyward::audit::chain::Checkpoint],
) -> Result<Result<u64, String>, sqlx::Error> {
    use keyward::audit::chain;
    let verification = chain::verify(db, workspace).await?;
    if let Some(link) = verification.broken {
        return Ok(Err(format!(
            "at entry seq {} (id {}, workspace {}): {}",
            link.seq,
            link.id,
            link.workspace_id.as_deref().unwrap_or("none"),
            link.reason
        )));
    }
    for checkpoint in checkpoints {
        if let Err(mismatch) = chain::check_checkpoint(db, checkpoint, workspace).await? {
            return Ok(Err(format!(
                "against checkpoint {}: {mismatch}",
                checkpoint.seq
            )));
        }
    }
    Ok(Ok(verification.entries_checked))
}

async fn reset_password_link(config: Config, email: &str) -> ExitCode {
    use keyward::auth::{email::Email, password_reset};
    let email = match Email::parse(email) {
        Ok(email) => email,
        Err(error) => {
            eprintln!("keyward: {error}");
            return ExitCode::from(2);
        }
    };
    let db = match keyward::db::Db::open(&config.database_url).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("keyward: could not open the store: {error}");
            return ExitCode::from(2);
        }
    };
    let client = keyward::audit::store::ClientInfo {
        ip: None,
        user_agent: Some("keyward user reset-password".into()),
    };
    let made = password_reset::create(
        &db,
        &email,
        password_reset::Requester::CommandLine,
        Clock::default().now(),
        &client,
    )
    .await;
    db.close().await;
    match made {
        Ok(link) => {
            // Printed once, to stdout only; the store keeps a digest.
            println!(
                "{}{}{}",
                config.public_url,
                password_reset::RESET_PATH,
                link.token.expose()
            );
            eprintln!(
                "Reset link for {} made; it works once, until {} (UTC). Earlier links for this account no longer work.",
                email.as_str(),
                link.expires_at.format("%Y-%m-%d %H:%M")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keyward: {error}");
            ExitCode::from(1)
        }
    }
}

async fn create_service_token(config: Config, workspace_slug: &str, name: &str) -> ExitCode {
    use keyward::service_tokens::store::{self, Creator};
    let db = match keyward::db::Db::open(&config.database_url).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("keyward: could not open the store: {error}");
            return ExitCode::from(2);
        }
    };
    let result = async {
        let workspace_id = store::workspace_by_slug(&db, workspace_slug)
            .await
            .map_err(|error| format!("could not read the store: {error}"))?
            .ok_or_else(|| format!("there is no workspace with the slug {workspace_slug:?}"))?;
        let client = keyward::audit::store::ClientInfo {
            ip: None,
            user_agent: Some("keyward service-token create".into()),
        };
        store::create(
            &db,
            &workspace_id,
            Creator::CommandLine,
            name,
            Clock::default().now(),
            &client,
        )
        .await
        .map_err(|error| error.to_string())
    }
    .await;
    db.close().await;
    match result {
        Ok(created) => {
            // Printed once, to stdout only; the store keeps a digest.
            println!("{}", created.secret);
            eprintln!(
                "Created service token {:?} ({}). Store it now: it cannot be shown again.",
                created.name, created.id
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("keyward: {message}");
            ExitCode::FAILURE
        }
    }
}
