//! `rediss://`: load and verify through TLS against a real Redis 7.0 with a certificate from
//! a CA made by the test (openssl); the certificate is checked unless told otherwise.

use crate::common;

use std::process::Command;

use crate::common::proc::Timed;

use common::{Server, corpus, rdbshift};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output_timed();
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
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=localhost",
        ],
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
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let (crt, key, ca) = (p("srv.crt"), p("srv.key"), p("ca.crt"));
    let extra = [
        "--tls-port",
        common::FREE_PORT,
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
    let tls_port = s.extra_port.unwrap();
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

/// Makes a certificate for `name` (key file, CSR, certificate signed by `ca`), with the
/// given extensions; `keygen` are openssl's arguments that write `{name}.key`.
fn signed(d: &std::path::Path, name: &str, ca: &str, keygen: &[&str], ext: &str) {
    openssl(d, keygen);
    let (key, csr, crt, extf) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    openssl(d, &["req", "-new", "-key", &key, "-out", &csr, "-subj", &format!("/CN={name}")]);
    std::fs::write(d.join(&extf), ext).unwrap();
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &extf,
        ],
    );
}

fn ca(d: &std::path::Path, name: &str) {
    let (key, crt, subj) = (format!("{name}.key"), format!("{name}.crt"), format!("/CN={name}"));
    openssl(
        d,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-days", "2", "-subj", &subj,
        ],
    );
}

/// A server that checks clients (`tls-auth-clients yes`, the default) and whose certificate
/// names only `rdbshift.test`: reachable with a client certificate (`--cert`, `--tls-key`;
/// EC, PKCS#8 and RSA keys, or one file with both) and `--sni rdbshift.test`; `--cacertdir`
/// works as `--cacert` does; `--insecure` warns.
#[test]
fn client_certificates_sni_and_cacertdir() {
    let dir = common::tempdir::Dir::new("mtls");
    let d = dir.path();
    ca(d, "ca");
    ca(d, "rogue");
    let ec = |n: &'static str| ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", n];
    signed(d, "srv", "ca", &ec("srv.key"), "subjectAltName=DNS:rdbshift.test\n");
    let client = "extendedKeyUsage=clientAuth\n";
    signed(d, "cli", "ca", &ec("cli.key"), client);
    signed(d, "clirsa", "ca", &["genrsa", "-traditional", "-out", "clirsa.key", "2048"], client);
    signed(d, "stranger", "rogue", &ec("stranger.key"), client);
    openssl(d, &["pkcs8", "-topk8", "-nocrypt", "-in", "cli.key", "-out", "cli.p8"]);
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let both = [std::fs::read(p("cli.crt")).unwrap(), std::fs::read(p("cli.p8")).unwrap()].concat();
    std::fs::write(p("cli-and-key.pem"), both).unwrap();
    // the key formats as the files say
    assert!(std::fs::read_to_string(p("cli.key")).unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert!(std::fs::read_to_string(p("clirsa.key")).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    assert!(std::fs::read_to_string(p("cli.p8")).unwrap().contains("BEGIN PRIVATE KEY"));
    std::fs::create_dir(d.join("cadir")).unwrap();
    std::fs::copy(p("ca.crt"), d.join("cadir/ca.pem")).unwrap();
    std::fs::write(d.join("cadir/README"), "not a certificate\n").unwrap();

    let (srv_crt, srv_key, ca_crt) = (p("srv.crt"), p("srv.key"), p("ca.crt"));
    let extra = [
        "--tls-port",
        common::FREE_PORT,
        "--tls-cert-file",
        &srv_crt,
        "--tls-key-file",
        &srv_key,
        "--tls-ca-cert-file",
        &ca_crt,
        "--tls-auth-clients",
        "yes",
    ];
    let Some(s) = Server::start_ok("redis-7.0", None, &extra) else { return };
    let tls_port = s.extra_port.unwrap();
    let f = corpus().join("servers/redis-7.0-expanded-seed1.rdb");
    let file = f.to_str().unwrap();
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let base = ["--target", &url, "--cacert", &ca_crt];
    let run = |cmd: &str, more: &[&str]| {
        let mut args = vec![cmd, file];
        args.extend(base);
        args.extend(more);
        rdbshift(&args)
    };
    let (cli_crt, cli_key) = (p("cli.crt"), p("cli.key"));
    let mtls = ["--cert", &cli_crt, "--tls-key", &cli_key];

    // no client certificate: the server ends the session, and the error says what it wants
    let (code, _, err) = run("load", &["--sni", "rdbshift.test"]);
    assert_ne!(code, 0);
    assert!(err.contains("client certificate") && err.contains("--cert"), "{err}");
    eprintln!("no client certificate: {err}");
    assert!(err.contains(&format!("127.0.0.1:{tls_port}")), "{err}");
    // the certificate is for rdbshift.test, not 127.0.0.1
    let (code, _, err) = run("load", &mtls);
    assert_ne!(code, 0);
    assert!(
        err.contains("certificate is not accepted") && err.contains("not valid for name"),
        "{err}"
    );
    eprintln!("wrong name: {err}");
    // a client certificate from a CA the server does not trust
    let (code, _, err) = run(
        "load",
        &["--sni", "rdbshift.test", "--cert", &p("stranger.crt"), "--tls-key", &p("stranger.key")],
    );
    assert_ne!(code, 0);
    assert!(err.contains("refused our client certificate"), "{err}");
    eprintln!("untrusted client certificate: {err}");
    assert_eq!(s.conn().cmd(&["DBSIZE"]).unwrap().int(), Some(0), "nothing was loaded");

    // with both: loaded, and verify agrees (also through a plain connection)
    let mut with_sni = mtls.to_vec();
    with_sni.extend(["--sni", "rdbshift.test"]);
    let (code, _, err) = run("load", &with_sni);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(" 0 failed") && !err.contains("loaded 0 keys"), "{err}");
    let (code, _, err) = run("verify", &with_sni);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = rdbshift(&["verify", file, "--target", &s.url()]);
    assert_eq!(code, 0, "{err}");
    // the other key formats, one file with certificate and key, a CA directory
    let (rsa_crt, rsa_key, p8, both) =
        (p("clirsa.crt"), p("clirsa.key"), p("cli.p8"), p("cli-and-key.pem"));
    for more in [
        vec!["--cert", &rsa_crt, "--tls-key", &rsa_key],
        vec!["--cert", &cli_crt, "--tls-key", &p8],
        vec!["--cert", &both],
    ] {
        let mut args = more.clone();
        args.extend(["--sni", "rdbshift.test"]);
        let (code, _, err) = run("verify", &args);
        assert_eq!(code, 0, "{more:?}: {err}");
    }
    let cadir = p("cadir");
    let mut args = vec!["verify", file, "--target", &url, "--cacertdir", &cadir];
    args.extend(&with_sni);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "--cacertdir: {err}");
    // --insecure: no check of the server's name or CA, and a warning
    let mut args = vec!["verify", file, "--target", &url, "--insecure"];
    args.extend(mtls);
    let (code, _, err) = rdbshift(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: --insecure"), "{err}");
    // TLS options for a plain target are refused, not ignored
    let (code, _, err) = rdbshift(&["verify", file, "--target", &s.url(), "--cacert", &ca_crt]);
    assert_ne!(code, 0);
    assert!(err.contains("rediss://"), "{err}");
    // a bad key file is named
    let (code, _, err) = run("verify", &["--cert", &cli_crt, "--tls-key", &cadir]);
    assert_ne!(code, 0);
    assert!(err.contains("cadir"), "{err}");
}
