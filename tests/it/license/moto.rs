//! moto in server mode as the AWS API: started per test on a free port, seeded by
//! `moto_seed.py` (two IAM roles, their temporary credentials, secrets and parameters), then
//! switched to authenticated mode: from then on it rejects a wrong signature or an unknown
//! key and enforces the roles' policies.

use std::process::Command;

use miniserde::Deserialize;

use super::tools::{free_port, moto_venv, Server};

/// The license keys stored in moto, one per slot (all distinct, so a test can tell which
/// one was used, and search every output for all of them).
pub const KEYS: [(&str, &str); 7] = [
    ("by_name", "moto-key-by-name-0000000000000000000NRAL"),
    ("by_arn", "moto-key-by-arn-00000000000000000000NRAL"),
    ("not_json", "moto-key-not-json-000000000000000000NRAL"),
    ("no_field", "moto-key-no-field-000000000000000000NRAL"),
    ("default_secret", "eu01xx-moto-key-default-secret-0000NRAL"),
    ("ssm", "moto-key-ssm-000000000000000000000000NRAL"),
    ("default_parameter", "moto-key-default-parameter-00000000NRAL"),
];

pub fn key(slot: &str) -> &'static str {
    KEYS.iter().find(|(s, _)| *s == slot).map(|(_, k)| *k).expect("known slot")
}

#[derive(Deserialize, Clone, Debug)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

#[derive(Deserialize)]
struct Seeded {
    reader: Creds,
    nothing: Creds,
    arn: String,
}

pub struct Moto {
    pub server: Server,
    /// Allowed to read every secret and parameter.
    pub reader: Creds,
    /// Allowed nothing but `sts:GetCallerIdentity`.
    pub nothing: Creds,
    /// The ARN of the secret `nr/by-arn`.
    pub arn: String,
}

impl Moto {
    pub fn start(tag: &str) -> Moto {
        let venv = moto_venv();
        let port = free_port();
        let mut command = Command::new(venv.join("bin/moto_server"));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let log = std::env::temp_dir().join(format!("nr-ext-moto-{}-{tag}.log", std::process::id()));
        let server = Server::start("moto_server", command, port, log);
        let keys: Vec<String> = KEYS.iter().map(|(slot, key)| format!("\"{slot}\":\"{key}\"")).collect();
        let seed = Command::new(venv.join("bin/python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/license/moto_seed.py"))
            .arg(server.url())
            .arg(format!("{{{}}}", keys.join(",")))
            .output()
            .expect("run moto_seed.py");
        assert!(
            seed.status.success(),
            "moto_seed.py failed: {}\n{}",
            String::from_utf8_lossy(&seed.stderr),
            server.log_text()
        );
        let text = String::from_utf8_lossy(&seed.stdout);
        let seeded: Seeded = miniserde::json::from_str(&text).unwrap_or_else(|e| panic!("seed output {text:?}: {e}"));
        Moto { server, reader: seeded.reader, nothing: seeded.nothing, arn: seeded.arn }
    }

    /// The variables that make the extension use `creds` against this server in `region`.
    pub fn env(&self, creds: &Creds, region: &str) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.server.url()),
            ("AWS_REGION".into(), region.into()),
            ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN".into(), creds.session_token.clone()),
        ]
    }
}
