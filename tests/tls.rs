//! `rediss://`: load and verify through TLS against a real Redis 7.0 with a certificate from
//! a CA made by the test (openssl); the certificate is checked unless told otherwise.

mod common;

use std::process::Command;

use common::{Server, corpus, free_port, rdbshift};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/install-servers.sh installs it)");
    assert!(st.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&st.stderr));
}

#[test]
fn load_and_verify_over_tls() {
    let dir = common::tempdir::Dir::new("tls");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rdbshift test CA",
        ],
    );
    openssl(
        d,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost"],
    );
    std::fs::write(d.join("ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let tls_port = free_port().to_string();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let (crt, key, ca) = (p("srv.crt"), p("srv.key"), p("ca.crt"));
    let extra = [
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &crt,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ];
    let Some(s) = Server::start_ok("redis-7.0", None, &extra) else { return };
    let f = corpus().join("servers/redis-7.0-expanded-seed1.rdb");
    let file = f.to_str().unwrap();
    let url = format!("rediss://127.0.0.1:{tls_port}");
    // the certificate is checked: unknown CA refused, named
    let (code, _, err) = rdbshift(&["load", file, "--target", &url]);
    assert_ne!(code, 0);
    assert!(err.contains("certificate"), "{err}");
    let (code, _, err) = rdbshift(&["load", file, "--target", &url, "--tls-ca", &ca]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(" 0 failed"), "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &url, "--tls-ca", &ca]);
    assert_eq!(code, 0, "{err}");
    // and what arrived is what a plain connection sees
    let (code, _, err) = rdbshift(&["verify", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &url, "--tls-insecure"]);
    assert_eq!(code, 0, "{err}");
}
