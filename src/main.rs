//! The `duoxie` binary: parses the command line, sets up logging, loads settings and runs
//! the same `App` the tests run. Nothing else lives here.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use duoxie::settings::Settings;
use duoxie::startup::{raise_fd_limit, App};

#[derive(Parser)]
#[command(name = "duoxie", version, about = "Duoxie live server")]
struct Cli {
    /// Optional TOML settings file (environment variables override it).
    #[arg(long, global = true, env = "DUOXIE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Grant a role (buyer, seller, appraiser, moderator, admin) to the account of a phone.
    GrantRole {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        role: String,
    },
    /// Take a role away from the account of a phone.
    RevokeRole {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        role: String,
    },
    /// Publish a new privacy-policy version: every node announces it to its connected
    /// clients within DUOXIE_POLICY_POLL_MS, and grants must be accepted again.
    PublishPolicy {
        #[arg(long)]
        version: String,
    },
}

fn main() -> anyhow::Result<()> {
    // actix-http writes an ERROR line for every malformed request a client sends (a client's
    // fault, and a way to flood the log); they are dropped unless the filter names actix_http.
    let wanted = std::env::var("DUOXIE_LOG").unwrap_or_else(|_| "info".into());
    let directives = if wanted.contains("actix_http") {
        wanted
    } else {
        format!("{wanted},actix_http::h1=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_http::h1=off"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    // JSON lines for log shippers; human-readable text otherwise.
    if std::env::var("DUOXIE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    duoxie::startup::ServerSystem::new().block_on(run(cli.command, settings))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            raise_fd_limit();
            App::build(settings).await?.run_until_stopped().await
        }
        Command::Migrate => {
            let (db, backend) = duoxie::store::connect(&settings.store()).await?;
            duoxie::store::migrate(&db, backend).await?;
            println!("migrations applied ({backend:?})");
            Ok(())
        }
        Command::Admin { task } => admin(task, settings).await,
    }
}

async fn admin(task: AdminTask, settings: Settings) -> anyhow::Result<()> {
    use duoxie::auth::policy::{PhoneNumber, Role};
    let (db, backend) = duoxie::store::connect(&settings.store()).await?;
    duoxie::store::migrate(&db, backend).await?;
    let (phone, role, grant) = match &task {
        AdminTask::GrantRole { phone, role } => (phone, role, true),
        AdminTask::RevokeRole { phone, role } => (phone, role, false),
        AdminTask::PublishPolicy { version } => {
            let in_force = duoxie::consent::publish_policy_version(&db, version)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("privacy policy version in force: {in_force}");
            let missing = duoxie::consent::legal::missing_texts(&in_force);
            if !missing.is_empty() {
                eprintln!(
                    "warning: this build ships no text of {} for version {in_force}: users are asked \
                     to accept it but cannot read it (add static/legal/<document>-{in_force}.txt \
                     and src/consent/legal.rs, then deploy)",
                    missing.join(" and ")
                );
            }
            return Ok(());
        }
    };
    let phone = PhoneNumber::parse(phone).map_err(|e| anyhow::anyhow!(e.message))?;
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!(e.message))?;
    // Accounts are found by the keyed hash of the number, so the CLI needs the phone key.
    let keys = settings.keys(&db).await?;
    let vault = duoxie::phone::PhoneVault::new(&keys.phone_master);
    let user_id = duoxie::auth::account_by_phone(&db, &vault.lookup(&phone))
        .await?
        .with_context(|| format!("no account for {phone}; the user must log in once first"))?;
    if grant {
        duoxie::auth::grant_role(&db, user_id, role.as_str()).await?;
        println!("granted {} to user {user_id} ({phone})", role.as_str());
    } else {
        let removed = duoxie::auth::revoke_role(&db, user_id, role).await?;
        println!(
            "{} {} from user {user_id} ({phone})",
            if removed { "revoked" } else { "did not hold" },
            role.as_str()
        );
    }
    Ok(())
}
