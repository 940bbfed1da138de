//! The output of `convert` does not depend on the thread count or on how the file is cut
//! into chunks: byte-identical for `--threads 1` and more, coarse and fine chunks.

use crate::common;

use common::{corpus, files, rdbshift};

fn convert(f: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["convert", f, "-o", "-"];
    args.extend_from_slice(extra);
    let (code, out, err) = rdbshift(&args);
    assert_eq!(code, 0, "{f} {extra:?}: {err}");
    out
}

#[test]
fn same_bytes_for_any_thread_count_and_chunking() {
    let mut checked = 0;
    for f in files(&corpus().join("servers")) {
        let f = f.to_str().unwrap();
        for mode in [&[][..], &["--restore"][..]] {
            let base = convert(f, &[&["--threads", "1"][..], mode].concat());
            assert!(base.len() > 1000, "{f}: {} bytes", base.len());
            for extra in [
                &["--threads", "2"][..],
                &["--threads", "4", "--chunk-bytes", "3000"],
                &["--threads", "1", "--chunk-bytes", "1"],
            ] {
                let other = convert(f, &[extra, mode].concat());
                assert!(
                    other == base,
                    "{f} {mode:?}: output with {extra:?} differs from --threads 1 ({} vs {} bytes)",
                    other.len(),
                    base.len()
                );
            }
            // into a regular file (background positional writes) the bytes are the same
            let dir = common::tempdir::Dir::new("threads");
            let out = dir.path().join("out.resp");
            let (code, _, err) = rdbshift(
                &[&["convert", f, "-o", out.to_str().unwrap(), "--chunk-bytes", "5000"][..], mode]
                    .concat(),
            );
            assert_eq!(code, 0, "{err}");
            assert!(std::fs::read(&out).unwrap() == base, "{f} {mode:?}: file output differs");
            checked += 1;
        }
    }
    assert!(checked >= 40);
}

#[test]
fn errors_name_offset_and_key() {
    // flip a byte inside the first key's value of a real dump: the error names both
    let src = corpus().join("servers/redis-7.0-compact-seed1.rdb");
    let data = std::fs::read(&src).unwrap();
    let dir = common::tempdir::Dir::new("convert-err");
    let mut found = false;
    for at in (data.len() / 3..data.len() - 20).step_by(97).take(200) {
        let mut d = data.clone();
        d[at] = 0xff;
        let p = dir.path().join("bad.rdb");
        std::fs::write(&p, &d).unwrap();
        let (code, _, err) = rdbshift(&["convert", p.to_str().unwrap(), "-o", "/dev/null"]);
        assert_ne!(code, 0, "corruption at {at} accepted");
        assert!(err.contains("byte offset"), "{err}");
        found |= err.contains(" in key ");
    }
    assert!(found, "no error named its key");
}
