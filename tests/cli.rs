//! The client command line, run as the real binary against a real `credledger serve` on a
//! loopback port: every subcommand's happy path and main failures (exit code and
//! message), exec after a rotation, materialize's file mode, import-env's dry run and
//! idempotence, and that no secret reaches any output but resolve, exec and materialize.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod served;

use served::{Served, BIN};

/// Every secret value the tests below store: none may appear in the server's log.
const SECRETS: &[&str] = &[
    "sk-audit-9",
    "sk-def",
    "sk-exec-1",
    "sk-exec-2",
    "sk-grant-1",
    "sk-hidden-5",
    "sk-imp-1",
    "sk-legacy-3",
    "sk-life-Qx81",
    "sk-life-Zr42",
    "sk-literal-1",
    "sk-mat",
    "pve-secret-7",
    "sk-env-scrub-4",
    "sk-team-6",
    "sk-erin-7",
    "sk-raw-8",
    "sk-claude-9",
    "sk-bench-10",
];

/// A server on a fresh data directory and a loopback port; killed on drop.
struct Server {
    served: Served,
    dir: tempfile::TempDir,
    port: u16,
    admin: String,
}

/// What one CLI run produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
    #[track_caller]
    fn fails(self, code: i32, message: &str) -> Self {
        assert_eq!(self.code, code, "{self:?}");
        assert!(
            self.stderr.contains(message),
            "expected '{message}' in {self:?}"
        );
        self
    }
}

/// A loopback port nothing listens on (for "cannot reach" cases; no server starts there).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let served = Served::start(&dir.path().join("data"), &[], &[]);
        let port = served.addr.rsplit(':').next().unwrap().parse().unwrap();
        let admin = served.admin.clone();
        Server {
            served,
            dir,
            port,
            admin,
        }
    }

    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs the CLI as the admin (unless `CREDLEDGER_TOKEN` is overridden in `env`).
    fn run_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CREDLEDGER_ADDR", self.addr())
            .env("CREDLEDGER_TOKEN", &self.admin)
            .env("CREDLEDGER_CONFIG", self.dir.path().join("config.json"))
            .current_dir(self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, None, &[])
    }

    fn run_in(&self, args: &[&str], stdin: &str) -> Run {
        self.run_env(args, Some(stdin), &[])
    }

    fn events(&self) -> u64 {
        let v: Value = reqwest::blocking::get(format!("{}/v1/ready", self.addr()))
            .unwrap()
            .json()
            .unwrap();
        v["events_committed"].as_u64().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Creates an openai credential with its key from stdin; returns its id.
    fn openai(&self, name: &str, key: &str) -> String {
        let r = self
            .run_in(
                &[
                    "cred",
                    "add",
                    "-t",
                    "openai",
                    "-n",
                    name,
                    "-f",
                    "api_key=-",
                    "--json",
                ],
                key,
            )
            .ok();
        r.json()["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    /// Every test ends by searching the real server's whole log (at trace level) for the
    /// secrets the tests store and for the admin token.
    fn drop(&mut self) {
        self.served.kill();
        if !std::thread::panicking() {
            let mut secrets = SECRETS.to_vec();
            secrets.push(&self.admin);
            self.served.assert_no_secret_logged(&secrets);
        }
    }
}

#[track_caller]
fn no_secret(runs: &[&Run], secrets: &[&str]) {
    for r in runs {
        for s in secrets {
            assert!(
                !r.stdout.contains(s) && !r.stderr.contains(s),
                "secret {s} leaked: {r:?}"
            );
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "cred",
        "templates",
        "principal",
        "token",
        "grant",
        "audit",
        "usage",
        "due",
        "exec",
        "materialize",
        "import-env",
        "login",
        "Exit codes:",
        "5  server unreachable",
    ] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
    let out = Command::new(BIN).args(["cred", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "add", "list", "show", "rotate", "delete", "restore", "destroy", "verify", "versions",
        "resolve",
    ] {
        assert!(text.contains(word), "{word} missing from cred --help");
    }
    let bad = Command::new(BIN)
        .args(["cred", "add", "--name", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--template"));
}

#[test]
fn unreachable_server_and_bad_tokens_have_clear_messages_and_codes() {
    let s = Server::start();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    s.run_env(&["cred", "list"], None, &[("CREDLEDGER_ADDR", &closed)])
        .fails(5, &format!("cannot reach credledger at {closed}"));
    s.run_env(&["cred", "list"], None, &[("CREDLEDGER_TOKEN", "cl_wrong")])
        .fails(
            4,
            "the token was rejected (run `credledger login` or set CREDLEDGER_TOKEN)",
        );
    s.run_env(&["whoami"], None, &[("CREDLEDGER_TOKEN", "")])
        .fails(4, "no token");
    let r = s
        .run_env(
            &["whoami", "--token", &s.admin.clone()],
            None,
            &[("CREDLEDGER_TOKEN", "")],
        )
        .ok();
    assert!(
        r.stderr.contains("warning: a token on the command line"),
        "{r:?}"
    );
    assert!(r.stdout.contains("admin"), "{r:?}");
}

#[test]
fn login_saves_a_private_config_that_later_commands_use() {
    let s = Server::start();
    let cfg = s.path("config.json");
    s.run_env(
        &["login"],
        Some("cl_not_a_token\n"),
        &[("CREDLEDGER_TOKEN", "")],
    )
    .fails(4, "the token was rejected");
    assert!(!cfg.exists(), "a rejected login wrote the config");
    let r = s
        .run_env(
            &["login"],
            Some(&format!("{}\n", s.admin)),
            &[("CREDLEDGER_TOKEN", "")],
        )
        .ok();
    assert!(r.stdout.contains("Logged in to"), "{r:?}");
    assert_eq!(mode(&cfg), 0o600);
    let saved: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(saved["addr"], s.addr());
    let me = s
        .run_env(
            &["whoami", "--json"],
            None,
            &[("CREDLEDGER_TOKEN", ""), ("CREDLEDGER_ADDR", "")],
        )
        .ok()
        .json();
    assert_eq!(me["role"], "admin");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.run_env(&["whoami"], None, &[("CREDLEDGER_TOKEN", "")])
        .fails(2, "chmod 600");
    s.run(&["logout"]).ok();
    assert!(!cfg.exists());
    s.run_env(&["login"], None, &[]).ok();
    assert_eq!(mode(&cfg), 0o600, "login takes CREDLEDGER_TOKEN too");
    s.run(&["logout"]).ok();
    assert!(!cfg.exists());
}

#[test]
fn credential_lifecycle_and_no_secret_outside_resolve() {
    let s = Server::start();
    let (k1, k2) = ("sk-life-Qx81", "sk-life-Zr42");
    let add = s
        .run_in(
            &[
                "cred",
                "add",
                "--template",
                "openai",
                "--name",
                "openai-prod",
                "--field",
                "api_key=-",
                "--rotate-every-days",
                "3",
                "--default",
            ],
            k1,
        )
        .ok();
    assert!(add.stdout.contains("Created openai-prod"), "{add:?}");
    let warned = s
        .run(&[
            "cred",
            "add",
            "-t",
            "api_key",
            "-n",
            "literal",
            "-f",
            "api_key=sk-literal-1",
        ])
        .ok();
    assert!(warned.stderr.contains("a secret on the command line can leak through shell history and ps; use api_key=- or api_key=@file"), "{warned:?}");
    let list = s.run(&["cred", "list"]).ok();
    assert!(
        list.stdout.contains("openai-prod") && list.stdout.contains("NAME"),
        "{list:?}"
    );
    let list_json = s
        .run(&["cred", "list", "--json", "--template", "openai"])
        .ok();
    assert_eq!(list_json.json()["credentials"].as_array().unwrap().len(), 1);
    let show = s.run(&["cred", "show", "openai-prod"]).ok();
    assert!(show.stdout.contains("api_key (values hidden"), "{show:?}");
    let show_json = s.run(&["cred", "show", "openai-prod", "--json"]).ok();
    let id = show_json.json()["id"].as_str().unwrap().to_string();
    let key_file = s.path("k2");
    std::fs::write(&key_file, format!("{k2}\n")).unwrap();
    let rot = s
        .run(&[
            "cred",
            "rotate",
            &id,
            "--field",
            &format!("api_key=@{}", key_file.display()),
        ])
        .ok();
    assert!(rot.stdout.contains("to version 2"), "{rot:?}");
    let versions = s.run(&["cred", "versions", "openai-prod", "--json"]).ok();
    assert_eq!(versions.json()["current"], 2);
    let value = s
        .run(&["cred", "resolve", "openai-prod", "--field", "api_key"])
        .ok();
    assert_eq!(value.stdout, format!("{k2}\n"));
    let by_service = s
        .run(&["cred", "resolve", "--service", "openai", "--json"])
        .ok()
        .json();
    assert_eq!(
        (
            by_service["source"].as_str(),
            by_service["version"].as_u64()
        ),
        (Some("tenant_default"), Some(2))
    );
    let old = s
        .run(&[
            "cred",
            "resolve",
            &id,
            "--version",
            "1",
            "--field",
            "api_key",
        ])
        .ok();
    assert_eq!(old.stdout.trim(), k1);

    let del = s.run(&["cred", "delete", "openai-prod"]).ok();
    let deleted = s
        .run(&["cred", "list", "--status", "deleted", "--json"])
        .ok();
    assert_eq!(deleted.json()["credentials"][0]["id"], id.as_str());
    s.run(&["cred", "resolve", &id]).fails(1, "deleted");
    let restore = s.run(&["cred", "restore", "openai-prod"]).ok();
    s.run(&["cred", "destroy", &id]).fails(2, "pass --yes");
    let destroy = s.run(&["cred", "destroy", &id, "--yes"]).ok();
    assert!(
        destroy.stdout.contains("Destroyed openai-prod"),
        "{destroy:?}"
    );
    s.run(&["cred", "resolve", &id]).fails(1, "destroyed");

    // Main failures.
    s.run(&["cred", "show", "no-such-cred"])
        .fails(3, "no credential named 'no-such-cred'");
    s.run(&["cred", "show", "00000000-0000-4000-8000-000000000000"])
        .fails(3, "credential not found");
    s.run(&["cred", "add", "-t", "openai", "-n", "nokey"])
        .fails(1, "api_key");
    s.run(&[
        "cred",
        "add",
        "-t",
        "nonesuch",
        "-n",
        "x",
        "-f",
        "a=@/dev/null",
    ])
    .fails(1, "unknown template");
    s.run(&[
        "cred",
        "add",
        "-t",
        "openai",
        "-n",
        "x",
        "-f",
        "api_key=@/no/such/file",
    ])
    .fails(2, "cannot read /no/such/file");
    s.run_in(
        &[
            "cred",
            "add",
            "-t",
            "api_key",
            "-n",
            "literal",
            "-f",
            "api_key=-",
        ],
        "v",
    )
    .fails(1, "[conflict]");
    s.run(&["cred", "resolve", "--service", "anthropic"])
        .fails(3, "");

    no_secret(
        &[
            &add, &list, &list_json, &show, &show_json, &rot, &versions, &del, &deleted, &restore,
            &destroy,
        ],
        &[k1, k2],
    );
    let all = s.run(&["cred", "list", "--status", "all", "--json"]).ok();
    no_secret(&[&all], &[k1, k2, "sk-literal-1"]);
}

#[test]
fn verify_reports_the_connection_test_in_the_exit_code() {
    let s = Server::start();
    let port = s.port.to_string();
    let closed = closed_port().to_string();
    let up = s
        .run_in(
            &[
                "cred",
                "add",
                "-t",
                "hyperv",
                "-n",
                "up",
                "-f",
                "host=127.0.0.1",
                "-f",
                &format!("port={port}"),
                "-f",
                "username=u",
                "-f",
                "password=-",
            ],
            "pw",
        )
        .ok();
    let down = s
        .run_in(
            &[
                "cred",
                "add",
                "-t",
                "hyperv",
                "-n",
                "down",
                "-f",
                "host=127.0.0.1",
                "-f",
                &format!("port={closed}"),
                "-f",
                "username=u",
                "-f",
                "password=-",
            ],
            "pw",
        )
        .ok();
    assert!(up.code == 0 && down.code == 0);
    let ok = s.run(&["cred", "verify", "up"]).ok();
    assert!(ok.stdout.contains(": ok"), "{ok:?}");
    let failed = s.run(&["cred", "verify", "down", "--json"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert_eq!(failed.json()["ok"], false);
}

#[test]
fn templates_principals_tokens_grants_and_tenants() {
    let s = Server::start();
    let t = s.run(&["templates", "list"]).ok();
    assert!(
        t.stdout.contains("proxmox") && t.stdout.contains("openai"),
        "{t:?}"
    );
    let p = s.run(&["templates", "show", "proxmox"]).ok();
    assert!(
        p.stdout.contains("PROXMOX_TOKEN_VALUE") && p.stdout.contains("auth_method=api_token"),
        "{p:?}"
    );
    s.run(&["templates", "show", "nope"])
        .fails(3, "template not found");

    let svc = s
        .run(&[
            "principal",
            "create",
            "ci-bot",
            "--kind",
            "service",
            "--role",
            "resolver",
            "--json",
        ])
        .ok()
        .json();
    let svc = svc["id"].as_str().unwrap().to_string();
    s.run(&["principal", "create", "x", "--role", "wizard"])
        .fails(1, "role must be");
    let list = s.run(&["principal", "list"]).ok();
    assert!(
        list.stdout.contains("ci-bot") && list.stdout.contains("resolver"),
        "{list:?}"
    );
    let tok = s.run(&["token", "create", &svc, "--json"]).ok().json();
    let (tok_id, token) = (
        tok["id"].as_str().unwrap().to_string(),
        tok["token"].as_str().unwrap().to_string(),
    );
    let as_bot = |args: &[&str]| s.run_env(args, None, &[("CREDLEDGER_TOKEN", &token)]);
    as_bot(&["whoami"]).ok();
    as_bot(&["principal", "create", "evil", "--role", "admin"]).fails(4, "permission denied");

    let id = s.openai("shared-openai", "sk-grant-1");
    as_bot(&["cred", "resolve", "shared-openai"]).fails(4, "permission denied");
    s.run(&["grant", "add", "shared-openai", &svc]).ok();
    let grants = s.run(&["grant", "list", &id, "--json"]).ok().json();
    assert_eq!(
        (
            grants["grants"][0]["principal"].as_str(),
            grants["grants"][0]["level"].as_str()
        ),
        (Some(svc.as_str()), Some("use"))
    );
    assert_eq!(
        as_bot(&["cred", "resolve", &id, "--field", "api_key"])
            .ok()
            .stdout
            .trim(),
        "sk-grant-1"
    );
    s.run(&["grant", "revoke", &id, &svc]).ok();
    as_bot(&["cred", "resolve", &id]).fails(4, "permission denied");

    s.run(&["token", "revoke", &tok_id]).ok();
    as_bot(&["whoami"]).fails(4, "the token was rejected");
    s.run(&["principal", "disable", &svc]).ok();
    s.run(&[
        "principal",
        "disable",
        "00000000-0000-4000-8000-000000000000",
    ])
    .fails(3, "");

    let tenant = s.run(&["tenant", "create", "acme"]).ok();
    let acme_token = tenant.stdout.trim().to_string();
    let acme = s
        .run_env(
            &["cred", "list", "--json"],
            None,
            &[("CREDLEDGER_TOKEN", &acme_token)],
        )
        .ok();
    assert_eq!(acme.json()["credentials"].as_array().unwrap().len(), 0);
}

#[test]
fn audit_usage_and_due() {
    let s = Server::start();
    let id = s.openai("audited", "sk-audit-9");
    s.run(&["cred", "resolve", "audited"]).ok();
    s.run_in(
        &[
            "cred",
            "add",
            "-t",
            "api_key",
            "-n",
            "soon",
            "-f",
            "api_key=-",
            "--rotate-every-days",
            "2",
        ],
        "k",
    )
    .ok();
    let aud = s
        .run(&[
            "principal",
            "create",
            "reviewer",
            "--role",
            "auditor",
            "--json",
        ])
        .ok()
        .json();
    let aud_token = s
        .run(&["token", "create", aud["id"].as_str().unwrap(), "--json"])
        .ok()
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let as_aud = |args: &[&str]| s.run_env(args, None, &[("CREDLEDGER_TOKEN", &aud_token)]);
    as_aud(&["cred", "resolve", "audited"]).fails(4, "permission denied");

    let used = as_aud(&[
        "audit",
        "query",
        "--credential",
        "audited",
        "--action",
        "used",
        "--json",
    ])
    .ok();
    assert_eq!(used.json()["events"].as_array().unwrap().len(), 1);
    let denied = as_aud(&["audit", "query", "--outcome", "denied"]).ok();
    assert!(denied.stdout.contains("use_denied"), "{denied:?}");
    let paged = as_aud(&["audit", "query", "--limit", "2", "--all", "--json"])
        .ok()
        .json();
    assert!(paged["events"].as_array().unwrap().len() > 2 && paged["next_cursor"].is_null());
    as_aud(&["audit", "query", "--action", "nonsense"]).fails(1, "unknown action");
    let csv = as_aud(&["audit", "export", "--format", "csv"]).ok();
    assert!(csv.stdout.starts_with("seq,at,action"), "{csv:?}");
    let file = s.path("audit.jsonl");
    as_aud(&[
        "audit",
        "export",
        "--credential",
        &id,
        "--out",
        file.to_str().unwrap(),
    ])
    .ok();
    assert!(std::fs::read_to_string(&file).unwrap().lines().count() >= 2);

    let usage = as_aud(&["usage", "--json"]).ok().json();
    let row = usage["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "audited")
        .unwrap()
        .clone();
    assert_eq!(
        (row["uses"].as_u64(), row["denied"].as_u64()),
        (Some(1), Some(1))
    );
    let one = as_aud(&["usage", "--credential", "audited"]).ok();
    assert!(one.stdout.contains("uses:"), "{one:?}");
    as_aud(&["usage", "--principal", aud["id"].as_str().unwrap()]).ok();

    let due = as_aud(&["due"]).ok();
    assert!(
        due.stdout.contains("soon") && due.stdout.contains("due"),
        "{due:?}"
    );
    as_aud(&["due", "--check", "--json"]).ok();
    s.run_env(&["due"], None, &[("CREDLEDGER_TOKEN", "")])
        .fails(4, "no token");
    no_secret(&[&used, &denied, &csv, &due, &one], &["sk-audit-9"]);
}

#[test]
fn exec_passes_fresh_values_and_the_childs_status() {
    let s = Server::start();
    let id = s.openai("exec-key", "sk-exec-1");
    let print = ["sh", "-c", "printf %s \"$OPENAI_API_KEY\""];
    let run = |cred: &str| {
        let mut a = vec!["exec", "--cred", cred, "--"];
        a.extend(print);
        s.run(&a).ok().stdout
    };
    assert_eq!(run("exec-key"), "sk-exec-1");
    s.run_in(&["cred", "rotate", &id, "-f", "api_key=-"], "sk-exec-2")
        .ok();
    assert_eq!(run(&id), "sk-exec-2");
    let r = s.run(&[
        "exec",
        "--service",
        "openai",
        "--env",
        "MY_KEY=api_key",
        "-v",
        "--",
        "sh",
        "-c",
        "printf %s \"$MY_KEY-$OPENAI_API_KEY-$OPENAI_BASE_URL\"",
    ]);
    s.run_in(
        &[
            "cred",
            "add",
            "-t",
            "openai",
            "-n",
            "def",
            "-f",
            "api_key=-",
            "--default",
        ],
        "sk-def",
    )
    .ok();
    let r2 = s
        .run(&[
            "exec",
            "--service",
            "openai",
            "--env",
            "MY_KEY=api_key",
            "-v",
            "--",
            "sh",
            "-c",
            "printf %s \"$MY_KEY-$OPENAI_API_KEY-$OPENAI_BASE_URL\"",
        ])
        .ok();
    assert_eq!(r.code, 3, "nothing configured for the service yet: {r:?}");
    assert_eq!(r2.stdout, "sk-def--https://api.openai.com/v1");
    assert!(
        r2.stderr.contains("MY_KEY") && !r2.stderr.contains("sk-def"),
        "{r2:?}"
    );
    assert_eq!(
        s.run(&["exec", "--cred", &id, "--", "sh", "-c", "exit 7"])
            .code,
        7
    );
    s.run(&["exec", "--cred", &id, "--", "/no/such/program"])
        .fails(127, "cannot run /no/such/program");
    s.run(&["exec", "--cred", "missing", "--", "true"])
        .fails(3, "no credential named 'missing'");

    // A file-mode field goes to a private file that is gone after the command exits.
    let kube = "apiVersion: v1\nkind: Config\n";
    s.run_in(
        &[
            "cred",
            "add",
            "-t",
            "kubernetes",
            "-n",
            "k8s",
            "-f",
            "kubeconfig=-",
        ],
        kube,
    )
    .ok();
    let r = s.run(&["exec", "--cred", "k8s", "--", "sh", "-c", "printf '%s\\n' \"$KUBECONFIG\"; stat -c %a \"$KUBECONFIG\" \"$(dirname \"$KUBECONFIG\")\"; cat \"$KUBECONFIG\""]).ok();
    let mut lines = r.stdout.lines();
    let path = PathBuf::from(lines.next().unwrap());
    assert_eq!(
        (lines.next(), lines.next()),
        (Some("600"), Some("700")),
        "{r:?}"
    );
    assert!(r.stdout.ends_with(kube), "{r:?}");
    assert!(
        !path.exists() && !path.parent().unwrap().exists(),
        "{path:?} left behind"
    );
}

#[test]
fn materialize_writes_a_private_file_atomically() {
    let s = Server::start();
    s.openai("mat", "sk-mat \"$1\"");
    let out = s.path("out/.env");
    std::fs::create_dir(s.path("out")).unwrap();
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s
        .run(&[
            "materialize",
            "--cred",
            "mat",
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
    assert!(!r.stdout.contains("sk-mat"), "{r:?}");
    assert_eq!(mode(&out), 0o600);
    let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        parsed.contains(&("OPENAI_API_KEY".into(), "sk-mat \"$1\"".into())),
        "{parsed:?}"
    );
    let json = s.path("out/cred.json");
    s.run(&[
        "materialize",
        "--service",
        "openai",
        "--out",
        json.to_str().unwrap(),
        "--format",
        "json",
    ])
    .fails(3, "");
    s.run(&[
        "materialize",
        "--cred",
        "mat",
        "--out",
        json.to_str().unwrap(),
        "--format",
        "json",
    ])
    .ok();
    assert_eq!(mode(&json), 0o600);
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["fields"]["api_key"], "sk-mat \"$1\"");
    let leftovers: Vec<_> = std::fs::read_dir(s.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "temporary files left: {leftovers:?}");
    s.run(&[
        "materialize",
        "--cred",
        "mat",
        "--out",
        "/no/such/dir/x.env",
    ])
    .fails(2, "is not a directory");
}

#[test]
fn import_env_dry_run_writes_nothing_and_a_rerun_imports_nothing_twice() {
    let s = Server::start();
    let prod = s.path("prod.env");
    std::fs::write(&prod, "# production\nOPENAI_API_KEY=sk-imp-1\nPROXMOX_HOST=https://pve.lab:8006\nPROXMOX_TOKEN_NAME=root@pam!ci\nPROXMOX_TOKEN_VALUE=pve-secret-7\nDEBUG=1\n").unwrap();
    let lab = s.path(".env.lab");
    std::fs::write(
        &lab,
        "LEGACY_KEY=sk-legacy-3\nANTHROPIC_BASE_URL=https://x\n",
    )
    .unwrap();
    let map = s.path("map.toml");
    std::fs::write(
        &map,
        "[vars]\nLEGACY_KEY = \"api_key.api_key\"\nDEBUG = \"\"\n",
    )
    .unwrap();
    let files = [
        prod.to_str().unwrap(),
        lab.to_str().unwrap(),
        "--mapping",
        map.to_str().unwrap(),
    ];
    let with = |extra: &[&str]| {
        let mut a = vec!["import-env"];
        a.extend(files);
        a.extend(extra);
        s.run(&a)
    };

    let before = s.events();
    let dry = with(&["--dry-run"]).ok();
    assert!(
        dry.stdout.contains("3 would import") && dry.stdout.contains("dry run"),
        "{dry:?}"
    );
    assert!(
        dry.stdout.contains("no template maps") || dry.stdout.contains("incomplete"),
        "{dry:?}"
    );
    assert_eq!(s.events(), before, "the dry run wrote events");
    assert_eq!(
        s.run(&["cred", "list", "--json"]).ok().json()["credentials"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let real = with(&["--json"]).ok().json();
    let names: Vec<&str> = real["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["openai-prod", "proxmox-prod", "api_key-lab"]);
    let skipped: Vec<&str> = real["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"ignored by the mapping")
            && skipped.contains(&"incomplete: api_key is required"),
        "{skipped:?}"
    );
    let pve = s
        .run(&["cred", "show", "proxmox-prod", "--json"])
        .ok()
        .json();
    assert_eq!(pve["fields"]["auth_method"], "api_token");
    assert_eq!(
        s.run(&["cred", "resolve", "proxmox-prod", "--field", "token_value"])
            .ok()
            .stdout
            .trim(),
        "pve-secret-7"
    );

    let after = s.events();
    let again = with(&[]).ok();
    assert!(
        again.stdout.contains("0 imported") && again.stdout.contains("skipped: exists"),
        "{again:?}"
    );
    assert_eq!(s.events(), after, "the re-run wrote events");
    no_secret(
        &[&dry, &again],
        &["sk-imp-1", "pve-secret-7", "sk-legacy-3"],
    );
    assert!(!real.to_string().contains("pve-secret-7"));

    let broken = s.path("broken.env");
    std::fs::write(&broken, "GOOD=1\nBAD LINE sk-hidden-5\n").unwrap();
    s.run(&["import-env", broken.to_str().unwrap()])
        .fails(2, "the line is not shown");
    assert!(!s
        .run(&["import-env", broken.to_str().unwrap()])
        .stderr
        .contains("sk-hidden-5"));
    s.run(&["import-env", "/no/such.env"])
        .fails(2, "cannot read");
}

#[test]
fn names_groups_levels_defaults_and_partial_updates() {
    let s = Server::start();
    s.run(&["principal", "create", "erin", "--role", "member"])
        .ok();
    // Names wherever ids: a token for erin, a group with erin, a grant to the group.
    let erin_token = s
        .run(&["token", "create", "erin"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let as_erin = |args: &[&str], stdin: Option<&str>| {
        s.run_env(args, stdin, &[("CREDLEDGER_TOKEN", &erin_token)])
    };
    s.run(&["group", "create", "team-red"]).ok();
    s.run(&["group", "add-member", "team-red", "erin"]).ok();
    let groups = s.run(&["group", "list"]).ok();
    assert!(
        groups.stdout.contains("team-red") && groups.stdout.contains("erin"),
        "{groups:?}"
    );
    s.openai("team-openai", "sk-team-6");
    s.run(&[
        "grant",
        "add",
        "team-openai",
        "--group",
        "team-red",
        "--level",
        "manage",
    ])
    .ok();
    let grants = s.run(&["grant", "list", "team-openai"]).ok();
    assert!(
        grants.stdout.contains("group") && grants.stdout.contains("manage"),
        "{grants:?}"
    );
    s.run(&["grant", "add", "team-openai", "nobody"])
        .fails(3, "no principal named 'nobody'");
    // Erin gets it through the group, and (level manage) changes one field without the key.
    let r = as_erin(&["cred", "resolve", "--service", "openai", "--json"], None).ok();
    assert_eq!(
        (
            r.json()["source"].as_str(),
            r.json()["fields"]["api_key"].as_str()
        ),
        (Some("granted"), Some("sk-team-6"))
    );
    let u = as_erin(
        &[
            "cred",
            "update",
            "team-openai",
            "--field",
            "organization=org-red",
        ],
        None,
    )
    .ok();
    assert!(u.stdout.contains("now version 2"), "{u:?}");
    let key = s
        .run(&["cred", "resolve", "team-openai", "--field", "api_key"])
        .ok();
    assert_eq!(key.stdout.trim(), "sk-team-6", "the key was kept");
    s.run(&[
        "cred",
        "update",
        "team-openai",
        "--rotate-every-days",
        "30",
        "--description",
        "team key",
    ])
    .ok();
    let shown = s
        .run(&["cred", "show", "team-openai", "--json"])
        .ok()
        .json();
    assert_eq!(
        (
            shown["version"].as_u64(),
            shown["rotate_every_days"].as_u64(),
            shown["fields"]["organization"].as_str()
        ),
        (Some(2), Some(30), Some("org-red"))
    );
    s.run(&["cred", "update", "team-openai"])
        .fails(2, "nothing to update");
    // But a member cannot grant by name (listing principals is not its role).
    as_erin(&["grant", "add", "team-openai", "someone"], None).fails(4, "by name");
    // A personal credential comes first for erin; `cred use` switches the default in one step.
    as_erin(
        &[
            "cred",
            "add",
            "-t",
            "openai",
            "-n",
            "my-openai",
            "--owner",
            "me",
            "-f",
            "api_key=-",
        ],
        Some("sk-erin-7"),
    )
    .ok();
    assert_eq!(
        as_erin(
            &[
                "cred",
                "resolve",
                "--service",
                "openai",
                "--field",
                "api_key"
            ],
            None
        )
        .ok()
        .stdout
        .trim(),
        "sk-erin-7"
    );
    let first = s.run(&["cred", "use", "team-openai"]).ok();
    assert!(first.stdout.contains("tenant default"), "{first:?}");
    let other = s.openai("other-openai", "sk-raw-8");
    let used = s.run(&["cred", "use", &other]).ok();
    assert!(
        used.stdout
            .contains("is now the tenant default for service openai"),
        "{used:?}"
    );
    assert_eq!(
        s.run(&[
            "cred",
            "resolve",
            "--service",
            "openai",
            "--field",
            "api_key"
        ])
        .ok()
        .stdout
        .trim(),
        "sk-raw-8"
    );
    // materialize one field's exact content.
    let raw = s.path("key.txt");
    s.run(&[
        "materialize",
        "--cred",
        "other-openai",
        "--field",
        "api_key",
        "--format",
        "raw",
        "--out",
        raw.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        (std::fs::read(&raw).unwrap(), mode(&raw)),
        (b"sk-raw-8".to_vec(), 0o600)
    );
    s.run(&[
        "materialize",
        "--cred",
        "other-openai",
        "--format",
        "raw",
        "--out",
        raw.to_str().unwrap(),
    ])
    .fails(2, "needs --field");
    s.run(&[
        "materialize",
        "--cred",
        "other-openai",
        "--field",
        "nope",
        "--out",
        raw.to_str().unwrap(),
    ])
    .fails(3, "no field 'nope'");
    // Leaving the group: erin's next resolve of the team key is refused.
    s.run(&["group", "remove-member", "team-red", "erin"]).ok();
    as_erin(&["cred", "resolve", "team-openai"], None).fails(4, "permission denied");
    // import-env into one service, made its default.
    let env = s.path("claude.env");
    std::fs::write(&env, "ANTHROPIC_API_KEY=sk-claude-9\n").unwrap();
    let imp = s
        .run(&[
            "import-env",
            env.to_str().unwrap(),
            "--service",
            "claude",
            "--default",
        ])
        .ok();
    assert!(imp.stdout.contains("imported (default)"), "{imp:?}");
    let e = s
        .run(&[
            "exec",
            "--service",
            "claude",
            "--",
            "sh",
            "-c",
            "echo \"key=$ANTHROPIC_API_KEY\"",
        ])
        .ok();
    assert_eq!(e.stdout.trim(), "key=sk-claude-9");
    let two = s.path("two.env");
    std::fs::write(&two, "ANTHROPIC_API_KEY=a\nOPENAI_API_KEY=b\n").unwrap();
    s.run(&["import-env", two.to_str().unwrap(), "--service", "x"])
        .fails(2, "several templates");
    // A tenant template: its env names serve exec and import-env.
    let def = s.path("bench.json");
    std::fs::write(&def, r#"{"name": "benchmarker", "title": "Benchmarker", "description": "API URL and key.", "fields": [{"name": "api_url", "type": "text", "required": true, "env": "BENCHMARKER_API_URL"}, {"name": "api_key", "type": "secret", "required": true, "env": "BENCHMARKER_API_KEY"}]}"#).unwrap();
    s.run(&["templates", "define", def.to_str().unwrap()]).ok();
    let listed = s.run(&["templates", "list"]).ok();
    assert!(listed.stdout.contains("benchmarker"), "{listed:?}");
    let benv = s.path("bench.env");
    std::fs::write(
        &benv,
        "BENCHMARKER_API_URL=https://bench.example\nBENCHMARKER_API_KEY=sk-bench-10\n",
    )
    .unwrap();
    let imp = s
        .run(&["import-env", benv.to_str().unwrap(), "--default"])
        .ok();
    assert!(imp.stdout.contains("benchmarker-bench"), "{imp:?}");
    let e = s
        .run(&[
            "exec",
            "--service",
            "benchmarker",
            "--",
            "sh",
            "-c",
            "echo \"$BENCHMARKER_API_URL ${#BENCHMARKER_API_KEY}\"",
        ])
        .ok();
    assert_eq!(e.stdout.trim(), "https://bench.example 11");
    // The summary by template.
    let sum = s.run(&["usage", "--by", "template"]).ok();
    assert!(
        sum.stdout.contains("TEMPLATE")
            && sum.stdout.contains("openai")
            && sum.stdout.contains("benchmarker"),
        "{sum:?}"
    );
    let sum = s.run(&["usage", "--by", "service", "--json"]).ok().json();
    assert!(sum["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["key"] == "claude"));
    no_secret(
        &[&groups, &grants, &u, &used, &imp, &listed],
        &[
            "sk-team-6",
            "sk-erin-7",
            "sk-raw-8",
            "sk-claude-9",
            "sk-bench-10",
        ],
    );
}

#[test]
fn readme_cli_walkthrough_runs() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/cli-walkthrough.sh"
        ))
        .env("CREDLEDGER_BIN", BIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cli walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("cli walkthrough ok"), "{stdout}");
}

#[test]
fn exec_never_hands_the_callers_access_to_the_child() {
    let s = Server::start();
    s.openai("scrub", "sk-env-scrub-4");
    let r = s
        .run_env(
            &["exec", "--cred", "scrub", "--", "env"],
            None,
            &[("CREDLEDGER_EXTRA_SETTING", "x")],
        )
        .ok();
    assert!(r.stdout.contains("OPENAI_API_KEY=sk-env-scrub-4"), "{r:?}");
    assert!(
        !r.stdout.contains("CREDLEDGER_") && !r.stdout.contains(&s.admin),
        "the child saw the caller's token or settings: {}",
        r.stdout
    );
    // A credential without any field that has an environment name runs nothing.
    s.run_in(
        &[
            "cred",
            "add",
            "-t",
            "custom",
            "-n",
            "bare",
            "-f",
            "blob.data=-",
        ],
        "opaque",
    )
    .ok();
    let marker = s.path("ran");
    s.run(&[
        "exec",
        "--cred",
        "bare",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ])
    .fails(2, "no field with an environment variable name");
    assert!(!marker.exists(), "the program ran with nothing");
}

#[test]
fn admin_token_file_is_checked_before_a_ledger_is_created() {
    let dir = tempfile::tempdir().unwrap();
    // A bare file name means the current directory.
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data", "d1"])
        .args(["--admin-token-file", "admin.token"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let token = dir.path().join("admin.token");
    let started = (0..400).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        token.exists()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "no token written for a bare file name");
    assert!(std::fs::read_to_string(&token).unwrap().starts_with("clt_"));
    assert_eq!(mode(&token), 0o600);

    // An undeliverable token creates nothing.
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data", "d2"])
        .args(["--admin-token-file", "no/such/dir/admin.token"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--admin-token-file no/such/dir/admin.token"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("d2").exists(),
        "a ledger was bootstrapped anyway"
    );
}
