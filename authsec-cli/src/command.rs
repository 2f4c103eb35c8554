//! The command line: parsing the arguments, running the command, the exit code.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use authsec_config::Config;
use lexopt::prelude::*;

use crate::check::{self, CheckOptions};
use crate::checklist::Checklist;
use crate::manifest::{self, Format};
use crate::probe::{self, Prober};
use crate::token::{self, Expectations};

/// The usage text (`authsec --help`).
pub const USAGE: &str = "\
authsec: verify an OAuth-protected MCP server, debug a token, publish the tool manifest

USAGE:
  authsec check <server-url> [--token T] [--manifest FILE | --config FILE] [--timeout SECONDS]
      Probe a live server as a client would; exit 0 only when every check passes.
  authsec token inspect <token|-> [--resource URI] [--issuer URL] [--tool NAME] [--manifest FILE | --config FILE]
      Decode a JWT locally (no signature check) and check iss, aud, exp and scope.
  authsec manifest export (--manifest FILE | --config FILE | --server URL --token T) [--format toml|json]
      Print the tool manifest from a file, or a manifest skeleton for a running server's tools.
  authsec manifest diff (--manifest FILE | --config FILE) (--server URL --token T | --tools FILE)
      Compare a manifest with the tools a server offers.
  authsec manifest status [--config FILE]
      Ask the AuthSec control plane whether it holds this server's tool manifest, configured
      as the server is: AUTHSEC_* variables (AUTHSEC_RESOURCE_SERVER_ID,
      AUTHSEC_AUTHORIZATION_SERVER or AUTHSEC_ISSUER, AUTHSEC_INTROSPECTION_CLIENT_ID/_SECRET)
      over the authsec.toml named by --config or AUTHSEC_CONFIG.

--manifest reads a tool manifest or an authsec-policy file; --config reads the server's
authsec.toml (its manifest, and for token inspect its resource and issuer; the file alone,
without AUTHSEC_* overrides, except for manifest status, which reads it as the server does).

The token may also come from the AUTHSEC_TOKEN environment variable (kept out of shell history);
`-` reads it from standard input. Exit codes: 0 all passed, 1 a check failed, 2 usage or I/O error.
";

/// What a command printed and how it exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code: 0 passed, 1 a check failed, 2 usage or I/O error.
    pub code: u8,
}

impl Outcome {
    fn report(list: &Checklist) -> Self {
        Outcome {
            stdout: format!("{list}\n"),
            stderr: String::new(),
            code: if list.passed() { 0 } else { 1 },
        }
    }

    fn printed(stdout: String, code: u8) -> Self {
        Outcome {
            stdout,
            stderr: String::new(),
            code,
        }
    }

    fn error(message: impl std::fmt::Display) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: format!("authsec: {message}\n"),
            code: 2,
        }
    }
}

#[derive(Debug, Default)]
struct Args {
    positional: Vec<String>,
    token: Option<String>,
    manifest: Option<PathBuf>,
    config: Option<PathBuf>,
    resource: Option<String>,
    issuer: Option<String>,
    tool: Option<String>,
    server: Option<String>,
    tools: Option<PathBuf>,
    format: Option<String>,
    timeout: Option<u64>,
    help: bool,
    version: bool,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut out = Args::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("token") => out.token = Some(parser.value()?.string()?),
            Long("manifest") => out.manifest = Some(parser.value()?.into()),
            Long("config") => out.config = Some(parser.value()?.into()),
            Long("resource") => out.resource = Some(parser.value()?.string()?),
            Long("issuer") => out.issuer = Some(parser.value()?.string()?),
            Long("tool") => out.tool = Some(parser.value()?.string()?),
            Long("server") => out.server = Some(parser.value()?.string()?),
            Long("tools") => out.tools = Some(parser.value()?.into()),
            Long("format") => out.format = Some(parser.value()?.string()?),
            Long("timeout") => out.timeout = Some(parser.value()?.parse()?),
            Short('h') | Long("help") => out.help = true,
            Short('V') | Long("version") => out.version = true,
            Value(value) => out.positional.push(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(out)
}

/// Runs the command line `args` (without the program name).
pub async fn run(args: impl IntoIterator<Item = OsString>) -> Outcome {
    let args = match parse(args) {
        Ok(args) => args,
        Err(error) => return Outcome::error(format!("{error}\n\n{USAGE}")),
    };
    if args.version {
        return Outcome::printed(format!("authsec {}\n", env!("CARGO_PKG_VERSION")), 0);
    }
    let words: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    if args.help || words.is_empty() {
        return Outcome::printed(USAGE.to_owned(), if args.help { 0 } else { 2 });
    }
    let result = match words.as_slice() {
        ["check", url] => run_check(url, &args).await,
        ["token", "inspect", token] => run_inspect(Some(token), &args),
        ["token", "inspect"] => run_inspect(None, &args),
        ["manifest", "export"] => run_export(&args).await,
        ["manifest", "diff"] => run_diff(&args).await,
        ["manifest", "status"] => run_status(&args).await,
        _ => Err(format!("unknown command: {}\n\n{USAGE}", words.join(" "))),
    };
    result.unwrap_or_else(Outcome::error)
}

fn token_from(given: Option<&str>) -> Result<Option<String>, String> {
    match given {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
            Ok(Some(text.trim().to_owned()))
        }
        Some(token) => Ok(Some(token.to_owned())),
        None => Ok(std::env::var("AUTHSEC_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())),
    }
}

fn prober(args: &Args) -> Result<Prober, String> {
    Prober::new(Duration::from_secs(args.timeout.unwrap_or(10)))
}

fn load_config(args: &Args) -> Result<Option<Config>, String> {
    args.config
        .as_deref()
        .map(|path| Config::from_toml_file(path).map_err(|e| e.to_string()))
        .transpose()
}

fn load_manifest(args: &Args) -> Result<Option<authsec_core::ToolManifest>, String> {
    if let Some(path) = &args.manifest {
        return manifest::load(path).map(Some);
    }
    match load_config(args)? {
        Some(config) => config
            .local_policy()
            .map(|(manifest, _)| Some(manifest))
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

async fn run_check(url: &str, args: &Args) -> Result<Outcome, String> {
    let mut options = CheckOptions::new(url);
    options.token = token_from(args.token.as_deref())?;
    options.manifest = load_manifest(args)?;
    let list = check::run(&prober(args)?, &options).await;
    Ok(Outcome::report(&list))
}

fn run_inspect(token: Option<&str>, args: &Args) -> Result<Outcome, String> {
    let token = token_from(token.or(args.token.as_deref()))?.ok_or(
        "token inspect needs a token (an argument, `-` for standard input, or AUTHSEC_TOKEN)",
    )?;
    let config = load_config(args)?;
    let from_config = |field: fn(&Config) -> &String| {
        config
            .as_ref()
            .map(|c| field(c).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let expect = Expectations {
        resource: args
            .resource
            .clone()
            .or_else(|| from_config(|c| &c.resource)),
        issuer: args.issuer.clone().or_else(|| from_config(|c| &c.issuer)),
        tool: args.tool.clone(),
        manifest: load_manifest(args)?,
        now: None,
    };
    let list = token::inspect(&token, &expect)?;
    Ok(Outcome::report(&list))
}

/// The tool names a running server lists for `token`.
async fn offered_tools(args: &Args, server: &str) -> Result<Vec<String>, String> {
    let token = token_from(args.token.as_deref())?
        .ok_or("reading tools from a server needs --token (or AUTHSEC_TOKEN)")?;
    let prober = prober(args)?;
    let init = prober
        .post(server, &probe::initialize(1), Some(&token), None)
        .await?;
    if init.status != 200 {
        return Err(format!("initialize at {server} got {}", init.summary()));
    }
    let session = init.session_id.as_deref();
    let _ = prober
        .post(server, &probe::initialized(), Some(&token), session)
        .await;
    let reply = prober
        .post(server, &probe::tools_list(2), Some(&token), session)
        .await?;
    probe::listed_tools(&reply)
        .map(|tools| tools.into_iter().map(|(name, _)| name).collect())
        .ok_or_else(|| format!("tools/list at {server} got {}", reply.summary()))
}

async fn run_export(args: &Args) -> Result<Outcome, String> {
    let format = match args.format.as_deref() {
        None | Some("toml") => Format::Toml,
        Some("json") => Format::Json,
        Some(other) => return Err(format!("--format {other}: use toml or json")),
    };
    let known = load_manifest(args)?;
    match (&args.server, known) {
        (Some(server), known) => {
            let offered = offered_tools(args, server).await?;
            let unmapped = offered
                .iter()
                .any(|tool| known.as_ref().is_none_or(|m| m.rule_for(tool).is_none()));
            Ok(Outcome::printed(
                manifest::skeleton(&offered, known.as_ref()),
                if unmapped { 1 } else { 0 },
            ))
        }
        (None, Some(known)) => Ok(Outcome::printed(manifest::export(&known, format), 0)),
        (None, None) => {
            Err("manifest export needs --manifest FILE, --config FILE or --server URL".into())
        }
    }
}

async fn run_diff(args: &Args) -> Result<Outcome, String> {
    let known =
        load_manifest(args)?.ok_or("manifest diff needs --manifest FILE or --config FILE")?;
    let (offered, source) = match (&args.server, &args.tools) {
        (Some(server), None) => (offered_tools(args, server).await?, server.clone()),
        (None, Some(path)) => (manifest::load_inventory(path)?, path.display().to_string()),
        _ => return Err("manifest diff needs either --server URL or --tools FILE".into()),
    };
    Ok(Outcome::report(&manifest::diff(&known, &offered, &source)))
}

async fn run_status(args: &Args) -> Result<Outcome, String> {
    // The server's own configuration: authsec.toml (--config, else AUTHSEC_CONFIG) with the
    // AUTHSEC_* environment over it, or the environment alone.
    let file = args
        .config
        .clone()
        .or_else(|| std::env::var_os("AUTHSEC_CONFIG").map(PathBuf::from));
    let config = match file {
        Some(path) => Config::load(path),
        None => Config::from_env(),
    }
    .map_err(|e| e.to_string())?;
    let plane = config
        .control_plane()
        .map_err(|e| e.to_string())?
        .ok_or("manifest status needs the resource server id: set AUTHSEC_RESOURCE_SERVER_ID (or resource_server_id in authsec.toml)")?;
    let list = manifest::status(&plane, config.authorization_server()).await;
    Ok(Outcome::report(&list))
}
