//! Enterprise networks: HTTPS with a private certificate authority, and proxies.

use crate::util::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn tls_sim(dir: &Path) -> (Sim, PathBuf) {
    let sim = Sim::with(|c| c.tls = true);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    (sim, ca)
}

const PIPELINE: &str = "cl-list \"$P\" -q -e AUTH_LOG --after 2026-07-01T00:00:00Z | cl-fetch -q";

#[test]
fn https_with_a_private_ca_needs_that_ca_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, ca) = tls_sim(dir.path());
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let out = sim.list(sim.ws(), &[], "AUTH_LOG").assert_exit(1);
    assert_eq!(
        stderr(&out),
        "cl-list: listing AUTH_LOG after 2026-07-01T00:00:00Z: TLS with 127.0.0.1 failed: invalid \
         peer certificate: UnknownIssuer\nhint: if a private CA or a TLS-inspecting proxy signs its \
         certificate, give --ca-cert FILE (PEM) or set SSL_CERT_FILE\n"
    );
    assert!(sim.requests().is_empty(), "no request passed the handshake");

    let want = sim.stream(sim.ids("AUTH_LOG"));
    let flag = format!(
        "cl-list \"$P\" -q -e AUTH_LOG --after 2026-07-01T00:00:00Z --ca-cert {0} \
                        | cl-fetch -q --ca-cert {0}",
        ca.display()
    );
    assert_bytes(&sim.sh(&flag).assert_exit(0).stdout, &want);
    let env = sim.sh(PIPELINE).env("SSL_CERT_FILE", &ca).assert_exit(0);
    assert_bytes(&env.stdout, &want);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.origin == cl_sim::Origin::Blob),
        "the blob host was reached over https too"
    );

    let out = sim
        .list_after(sim.ws(), &[], "AUTH_LOG", "1h")
        .args(["--ca-cert", "/nonexistent.pem"])
        .assert_exit(2);
    assert!(
        stderr(&out).starts_with("cl-list: CA file /nonexistent.pem: "),
        "{}",
        stderr(&out)
    );
}

/// tinyproxy on a free loopback port, logging every connection.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proxy {
    fn start(dir: &Path) -> Proxy {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("proxy.log");
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\n\
                 MaxClients 64\nAllow 127.0.0.1\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(Duration::from_secs(30), "tinyproxy to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Proxy { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn proxies_from_the_environment_carry_the_api_and_the_blob_host() {
    if !needs("tinyproxy", "apt-get install tinyproxy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sim, ca) = tls_sim(dir.path());
    let want = sim.stream(sim.ids("AUTH_LOG"));
    let api = host_port(sim.base_url());
    let blob = host_port(&sim.blob_origin());

    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let proxy = Proxy::start(dir.path());
        let out = sim
            .sh(PIPELINE)
            .env("SSL_CERT_FILE", &ca)
            .env(var, proxy.url())
            .assert_exit(0);
        assert_bytes(&out.stdout, &want);
        let log = proxy.log();
        assert!(
            log.contains(&format!("CONNECT {api} ")),
            "{var}: the API went around the proxy:\n{log}"
        );
        assert!(
            log.contains(&format!("CONNECT {blob} ")),
            "{var}: the blob host went around the proxy:\n{log}"
        );
        drop(proxy);
        std::fs::remove_file(dir.path().join("proxy.log")).unwrap();
    }

    // NO_PROXY names the blob host's address. Where the loopback has 127.0.0.1 alone, the
    // blob host shares the API's address (another port), and NO_PROXY then covers both.
    let blob_ip = blob.rsplit_once(':').unwrap().0;
    let shared = api.rsplit_once(':').unwrap().0 == blob_ip;
    let proxy = Proxy::start(dir.path());
    let out = sim
        .sh(PIPELINE)
        .env("SSL_CERT_FILE", &ca)
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", blob_ip)
        .assert_exit(0);
    assert_bytes(&out.stdout, &want);
    let log = proxy.log();
    assert_eq!(
        log.contains(&format!("CONNECT {api} ")),
        !shared,
        "NO_PROXY={blob_ip}:\n{log}"
    );
    assert!(
        !log.contains(&format!("CONNECT {blob} ")),
        "NO_PROXY was not honoured:\n{log}"
    );
}

#[test]
fn where_the_loopback_has_127_0_0_1_alone_the_simulator_and_the_pipeline_still_run() {
    if !needs("unshare", "apt-get install util-linux")
        || !needs("ip", "apt-get install iproute2")
        || !needs("curl", "apt-get install curl")
        || !needs("jq", "apt-get install jq")
    {
        return;
    }
    // As on macOS and the BSDs: a network namespace whose loopback holds 127.0.0.1/32 only.
    // The blob host takes another port of 127.0.0.1, and still refuses the key.
    let script = r#"
        ip link set lo up
        ip addr del 127.0.0.1/8 dev lo
        ip addr add 127.0.0.1/32 dev lo
        : > sim.env
        cl-sim --files 3 >> sim.env 2> sim.err &
        while [ "$(wc -l < sim.env)" -lt 4 ]; do sleep 0.05; done
        . ./sim.env
        cl-list -q -e AUTH_LOG --after 2026-07-01T00:00:00Z --retention 1000d > listing
        cl-fetch -q -o lake < listing | jq -r .status
        grep -o 'signed URLs on http://127.0.0.1:[0-9]*' sim.err | sed 's/:[0-9]*$/:PORT/'
        blob=$(grep -o 'http://127.0.0.1:[0-9]*' sim.err | tail -1)
        id=$(jq -r .id listing | head -1)
        curl -s -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer x' "$blob/blobs/$id"
        kill %1
    "#;
    let dir = tempfile::tempdir().unwrap();
    let out = sh(&format!("exec unshare -rn bash -c {}", shell_quote(script)))
        .current_dir(dir.path())
        .assert_exit(0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "downloaded\ndownloaded\ndownloaded\nsigned URLs on http://127.0.0.1:PORT\n400\n",
        "{}",
        stderr(&out)
    );
}
