use super::*;

/// Reads one DER TLV: (tag, contents, rest).
fn tlv(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = bytes[0];
    let (header, len) = if bytes[1] < 0x80 {
        (2, bytes[1] as usize)
    } else {
        let n = (bytes[1] & 0x7f) as usize;
        (2 + n, bytes[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize))
    };
    (tag, &bytes[header..header + len], &bytes[header + len..])
}

/// What webpki takes out of a root certificate: subject, SPKI and name constraints contents.
fn anchor_fields(cert: &[u8]) -> (Vec<u8>, Vec<u8>, Option<Vec<u8>>) {
    let (tag, cert, rest) = tlv(cert);
    assert_eq!((tag, rest.len()), (0x30, 0));
    let (_, mut tbs, after_tbs) = tlv(cert);
    let (alg_tag, outer_alg, sig) = tlv(after_tbs);
    assert_eq!(alg_tag, 0x30);
    assert_eq!(sig, [0x03, 0x01, 0x00]);
    let mut fields = Vec::new();
    while !tbs.is_empty() {
        let (tag, content, rest) = tlv(tbs);
        fields.push((tag, content.to_vec()));
        tbs = rest;
    }
    assert_eq!(fields[0], (0xa0, vec![0x02, 0x01, 0x02]), "version 3");
    assert_eq!(fields[2].1, outer_alg, "inner and outer algorithms agree");
    assert_eq!(fields[3], fields[5], "issuer = subject");
    let nc = fields.get(7).map(|(tag, ext)| {
        assert_eq!(*tag, 0xa3);
        let (_, list, _) = tlv(ext);
        let (_, one, _) = tlv(list);
        let (_, oid, value) = tlv(one);
        assert_eq!(oid, [0x55, 0x1d, 0x1e]);
        let (_, octets, _) = tlv(value);
        tlv(octets).1.to_vec()
    });
    (fields[5].1.clone(), fields[6].1.clone(), nc)
}

#[test]
fn builtin_roots_round_trip_to_the_same_anchors() {
    let certs = builtin_roots();
    assert_eq!(certs.len(), webpki_roots::TLS_SERVER_ROOTS.len());
    assert!(certs.len() > 100, "Mozilla ships well over 100 roots");
    let mut with_constraints = 0;
    for (cert, anchor) in certs.iter().zip(webpki_roots::TLS_SERVER_ROOTS) {
        assert!(is_der_sequence(cert.der()));
        let (subject, spki, nc) = anchor_fields(cert.der());
        assert_eq!(subject, anchor.subject.as_ref());
        assert_eq!(spki, anchor.subject_public_key_info.as_ref());
        assert_eq!(nc.as_deref(), anchor.name_constraints.as_ref().map(|n| n.as_ref()));
        with_constraints += usize::from(nc.is_some());
    }
    assert!(with_constraints >= 1, "the name-constrained root is covered");
}

#[test]
fn der_lengths() {
    #[track_caller]
    fn check(len: usize, header: &[u8]) {
        let out = der(0x04, &vec![7u8; len]);
        assert_eq!(&out[..header.len()], header, "len {len}");
        assert_eq!(out.len(), header.len() + len);
    }
    check(0, &[0x04, 0x00]);
    check(0x7f, &[0x04, 0x7f]);
    check(0x80, &[0x04, 0x81, 0x80]);
    check(0x1234, &[0x04, 0x82, 0x12, 0x34]);
    check(0x10000, &[0x04, 0x83, 0x01, 0x00, 0x00]);
}

#[test]
fn der_sequence_guard() {
    #[track_caller]
    fn check(bytes: &[u8], expected: bool) {
        assert_eq!(is_der_sequence(bytes), expected, "{bytes:02x?}");
    }
    check(&[0x30, 0x00], true);
    check(&[0x30, 0x01, 0x05], true);
    check(&[0x30, 0x02, 0x05], false);
    check(&[0x31, 0x00], false);
    check(&[0x30], false);
    check(&[], false);
    check(&[0x30, 0x80], false);
    check(&[0x30, 0x85, 1, 2, 3, 4, 5], false);
    check(&der(0x30, &[1u8; 300]), true);
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[test]
fn pem_files() {
    let cert = anchor_certificate(b"\x31\x0b\x30\x09\x06\x03\x55\x04\x03\x0c\x02CA", b"\x30\x00\x03\x01\x00", None);
    let two = format!("# a comment\n{}{}", pem("CERTIFICATE", &cert), pem("CERTIFICATE", &cert));
    assert_eq!(parse_certificates(two.as_bytes()).map(|c| c.len()), Ok(2));
    let with_key = format!("{}{}", pem("PRIVATE KEY", &der(0x30, &[0x02, 0x01, 0x00])), pem("CERTIFICATE", &cert));
    assert_eq!(parse_certificates(with_key.as_bytes()).map(|c| c.len()), Ok(1));

    let err = |text: &str| parse_certificates(text.as_bytes()).err().unwrap_or_default();
    assert!(err("").contains("no PEM certificate"));
    assert!(err("hello, I am not a certificate").contains("no PEM certificate"));
    assert!(err(&pem("CERTIFICATE", b"garbage that is not DER")).contains("certificate 1 is not a DER certificate"));
    assert!(err(&pem("PRIVATE KEY", &der(0x30, &[0x02, 0x01, 0x00]))).contains("no PEM certificate"));
}

#[test]
fn pem_file_errors_name_the_problem() {
    let missing = load_pem_file(Path::new("/nonexistent/ca.pem")).err().unwrap_or_default();
    assert!(missing.starts_with("cannot be read:"), "{missing}");
    let dir = load_pem_file(Path::new("/")).err().unwrap_or_default();
    assert!(dir.starts_with("cannot be read:"), "{dir}");
}
