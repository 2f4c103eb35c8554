//! `authsec-dev-issuer`: runs the authsec development authorization server
//! on a loopback address. NOT FOR PRODUCTION (see `--help`).
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use authsec_tests::dev_issuer::{
    AccessTokenFormat, ClientRegistration, DEFAULT_INTROSPECTION_CLIENT_ID,
    DEFAULT_INTROSPECTION_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_PUBLIC_CLIENT_REDIRECT_URI, DevIssuer, DevIssuerConfig, SigningAlgorithm,
};

const WARNING: &str = "WARNING: authsec-dev-issuer is a development authorization server \
(auto-consent, in-memory, forgeable test keys): NOT FOR PRODUCTION.";

const HELP: &str = "\
authsec-dev-issuer: local OAuth 2.1 authorization server for authsec development and tests.

NOT FOR PRODUCTION. It logs every user in without asking (headless auto-consent),
keeps everything in memory, accepts any scope, and only binds loopback addresses.

USAGE:
    authsec-dev-issuer [OPTIONS]

Once ready it prints one line to stdout, `issuer <URL>`, then serves until killed
(SIGINT/SIGTERM shut it down gracefully).

OPTIONS:
    --listen <ADDR>                       Loopback address to bind [default: 127.0.0.1:9000]
                                          (port 0 picks a free port)
                                          [env: AUTHSEC_DEV_ISSUER_LISTEN]
    --introspection-client-id <ID>        Client id of the resource server's introspection
                                          client [default: notes-rs]
                                          [env: AUTHSEC_DEV_INTROSPECTION_CLIENT_ID]
    --introspection-client-secret <S>     Its secret [default: notes-rs-secret]
                                          [env: AUTHSEC_DEV_INTROSPECTION_CLIENT_SECRET]
    --redirect-uri <URI>                  Extra redirect URI for the public client `dev-client`
                                          (repeatable; http://127.0.0.1/callback on any port is
                                          always registered)
    --default-resource <URI>              Resource indicator used when a request has none
                                          (default: `resource` is required)
                                          [env: AUTHSEC_DEV_ISSUER_DEFAULT_RESOURCE]
    --scope <SCOPE>                       Advertised scope (repeatable)
                                          [default: notes:read notes:write]
    --alg <ALG>                           Signing algorithm: RS256, PS256, ES256, EdDSA
                                          [default: RS256]
    --opaque                              Issue opaque access tokens (validated by
                                          introspection only) instead of RFC 9068 JWTs
    --access-token-lifetime <SECS>        Access-token lifetime in seconds [default: 300]
    -h, --help                            Print this help
    -V, --version                         Print the version

ENDPOINTS:
    /.well-known/oauth-authorization-server, /.well-known/openid-configuration,
    /jwks, /authorize, /token, /register, /introspect, /revoke
";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

struct Args {
    config: DevIssuerConfig,
    introspection_id: String,
    introspection_secret: String,
}

enum Parsed {
    Run(Box<Args>),
    Exit(ExitCode),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut config = DevIssuerConfig::default();
    let mut listen = env("AUTHSEC_DEV_ISSUER_LISTEN").unwrap_or_else(|| "127.0.0.1:9000".into());
    let mut introspection_id = env("AUTHSEC_DEV_INTROSPECTION_CLIENT_ID")
        .unwrap_or_else(|| DEFAULT_INTROSPECTION_CLIENT_ID.into());
    let mut introspection_secret = env("AUTHSEC_DEV_INTROSPECTION_CLIENT_SECRET")
        .unwrap_or_else(|| DEFAULT_INTROSPECTION_CLIENT_SECRET.into());
    let mut redirect_uris = vec![DEFAULT_PUBLIC_CLIENT_REDIRECT_URI.to_owned()];
    let mut scopes: Vec<String> = Vec::new();
    config.default_resource = env("AUTHSEC_DEV_ISSUER_DEFAULT_RESOURCE");

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "-V" | "--version" => {
                println!("authsec-dev-issuer {}", env!("CARGO_PKG_VERSION"));
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "--listen" => listen = value("ADDR")?,
            "--introspection-client-id" => introspection_id = value("ID")?,
            "--introspection-client-secret" => introspection_secret = value("SECRET")?,
            "--redirect-uri" => redirect_uris.push(value("URI")?),
            "--default-resource" => config.default_resource = Some(value("URI")?),
            "--scope" => scopes.push(value("SCOPE")?),
            "--alg" => {
                config.signing_algorithm = value("ALG")?
                    .parse::<SigningAlgorithm>()
                    .map_err(|e| e.to_string())?;
            }
            "--opaque" => config.access_token_format = AccessTokenFormat::Opaque,
            "--access-token-lifetime" => {
                let secs = value("SECS")?
                    .parse::<u64>()
                    .map_err(|_| "--access-token-lifetime must be a number of seconds")?;
                config.access_token_lifetime = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }

    config.listen = listen
        .parse::<SocketAddr>()
        .map_err(|_| format!("--listen {listen:?} is not an IP:PORT address"))?;
    if !config.listen.ip().is_loopback() {
        return Err(format!(
            "--listen {} is not a loopback address; the dev issuer only binds loopback",
            config.listen
        ));
    }
    if !scopes.is_empty() {
        config.scopes_supported = scopes;
    }
    config = config
        .with_client(ClientRegistration::public(
            DEFAULT_PUBLIC_CLIENT_ID,
            redirect_uris,
        ))
        .with_introspection_client(introspection_id.clone(), introspection_secret.clone());
    Ok(Parsed::Run(Box::new(Args {
        config,
        introspection_id,
        introspection_secret,
    })))
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Exit(code)) => return code,
        Err(message) => {
            eprintln!("authsec-dev-issuer: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!("{WARNING}");
    let Args {
        config,
        introspection_id,
        introspection_secret,
    } = *args;
    let alg = config.signing_algorithm;
    let issuer = match DevIssuer::start_with(config).await {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("authsec-dev-issuer: could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Never print secrets: only say whether the default one is in use.
    let secret_note = if introspection_secret == DEFAULT_INTROSPECTION_CLIENT_SECRET {
        "default secret"
    } else {
        "custom secret"
    };
    eprintln!(
        "authsec-dev-issuer: {alg} keys, public client {DEFAULT_PUBLIC_CLIENT_ID}, \
         introspection client {introspection_id} ({secret_note})"
    );
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "issuer {}", issuer.issuer())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // Nobody can learn the URL; keep serving anyway.
        eprintln!("authsec-dev-issuer: could not write to stdout");
    }
    wait_for_termination().await;
    issuer.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn rejects_non_loopback_and_unknown_flags() {
        assert!(parse(&["--listen", "0.0.0.0:9000"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--listen"]).is_err());
    }

    #[test]
    fn parses_flags() {
        let Ok(Parsed::Run(args)) = parse(&[
            "--listen=127.0.0.1:0",
            "--introspection-client-id",
            "rs",
            "--introspection-client-secret",
            "s3cret",
            "--alg",
            "es256",
            "--opaque",
        ]) else {
            panic!("expected a run configuration");
        };
        assert_eq!(args.config.listen.port(), 0);
        assert_eq!(args.config.signing_algorithm, SigningAlgorithm::ES256);
        assert_eq!(args.config.access_token_format, AccessTokenFormat::Opaque);
        let rs = args
            .config
            .clients
            .iter()
            .find(|c| c.client_id == "rs")
            .expect("introspection client");
        assert_eq!(rs.client_secret.as_deref(), Some("s3cret"));
        assert!(
            !args
                .config
                .clients
                .iter()
                .any(|c| c.client_id == DEFAULT_INTROSPECTION_CLIENT_ID)
        );
    }
}
