//! The real servers of the proxy tests, from Debian packages: a private CA and a server
//! certificate made with `openssl`, a TLS front for the fake collector (`socat`), an HTTP
//! CONNECT proxy (`tinyproxy`) and a SOCKS5 proxy (`microsocks`), each with credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::license::tools::{free_port, tool, Server};

pub const PROXY_USER: &str = "nr-proxy-user";
pub const PROXY_PASSWORD: &str = "pr0xy-pa55w0rd";

/// A private CA and a certificate for 127.0.0.1 signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn run(program: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Fresh keys every run (P-256, valid two days): nothing secret is checked in.
pub fn make_pki(dir: &Path) -> Pki {
    let openssl = tool("openssl", "NR_TEST_OPENSSL");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(ec);
    ca_args.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=NR extension test private CA"]);
    ca_args.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&openssl, &ca_args, dir);
    let mut csr_args = vec!["req"];
    csr_args.extend(ec);
    csr_args.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    run(&openssl, &csr_args, dir);
    let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
               keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), ext).expect("write server.ext");
    let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
    let mut sign_args = sign.to_vec();
    sign_args.extend(["-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
    run(&openssl, &sign_args, dir);
    Pki { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") }
}

/// `https://127.0.0.1:<port>` terminating TLS with `pki`'s certificate, forwarding to `to`.
pub fn tls_front(pki: &Pki, port: u16, to: std::net::SocketAddr, dir: &Path) -> Server {
    let socat = tool("socat", "NR_TEST_SOCAT");
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
        pki.cert.display(),
        pki.key.display()
    );
    let mut command = Command::new(socat);
    command.args([listen, format!("TCP:{to}")]);
    Server::start("socat", command, port, dir.join("socat.log"))
}

/// tinyproxy on a free port, requiring [`PROXY_USER`]/[`PROXY_PASSWORD`], logging each
/// request line (`CONNECT host:port`) to its log.
pub fn http_proxy(dir: &Path) -> Server {
    let tinyproxy = tool("tinyproxy", "NR_TEST_TINYPROXY");
    let port = free_port();
    // No ConnectPort line: CONNECT is allowed to any port (the collector's is not 443).
    let conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\nMaxClients 20\n\
         BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"
    );
    let path = dir.join("tinyproxy.conf");
    std::fs::write(&path, conf).expect("write tinyproxy.conf");
    let mut command = Command::new(tinyproxy);
    command.arg("-d").arg("-c").arg(&path);
    Server::start("tinyproxy", command, port, dir.join("tinyproxy.log"))
}

/// microsocks (SOCKS5) on a free port, requiring [`PROXY_USER`]/[`PROXY_PASSWORD`].
pub fn socks_proxy(dir: &Path) -> Server {
    let microsocks = tool("microsocks", "NR_TEST_MICROSOCKS");
    let port = free_port();
    let mut command = Command::new(microsocks);
    command.args(["-i", "127.0.0.1", "-p", &port.to_string(), "-u", PROXY_USER, "-P", PROXY_PASSWORD]);
    Server::start("microsocks", command, port, dir.join("microsocks.log"))
}
