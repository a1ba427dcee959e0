//! The TLS roots: the built-in Mozilla roots (webpki-roots, compiled in), plus the CAs of a
//! PEM file named by `SSL_CERT_FILE`.
//!
//! ureq takes either its built-in roots or a list of root *certificates*, while the built-in
//! roots exist only as trust anchors (subject, public key, name constraints). So to trust
//! both, each anchor is re-encoded as a minimal self-describing certificate carrying exactly
//! those three fields: rustls turns it back into the same anchor, and nothing else of a root
//! certificate (validity, signature) is ever used by a verifier. This runs only when
//! `SSL_CERT_FILE` is set. It never logs: problems come back as one message for the caller.

use std::path::Path;

use ureq::tls::{parse_pem, Certificate, PemItem};

/// `SSL_CERT_FILE` is read up to this size; a CA bundle is a few hundred kB at most.
const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// The certificates of a PEM file, or why it cannot be used (one line, for one warning).
pub fn load_pem_file(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut pem = Vec::new();
    file.take(MAX_PEM_BYTES + 1).read_to_end(&mut pem).map_err(|e| format!("cannot be read: {e}"))?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(format!("is larger than {MAX_PEM_BYTES} bytes"));
    }
    parse_certificates(&pem)
}

/// Every `CERTIFICATE` block of `pem`; keys and other blocks are ignored. An empty result,
/// a malformed block or a block that is not DER is an error: the file is then not trusted.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for (index, item) in parse_pem(pem).enumerate() {
        match item {
            Ok(PemItem::Certificate(cert)) if is_der_sequence(cert.der()) => certs.push(cert),
            Ok(PemItem::Certificate(_)) => return Err(format!("certificate {} is not a DER certificate", index + 1)),
            Ok(_) => {}
            Err(e) => return Err(format!("is not valid PEM ({e})")),
        }
    }
    if certs.is_empty() {
        return Err("contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string());
    }
    Ok(certs)
}

/// The built-in roots as certificates (see the module comment), in their original order.
pub fn builtin_roots() -> Vec<Certificate<'static>> {
    webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .map(|anchor| {
            let der = anchor_certificate(
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
                anchor.name_constraints.as_ref().map(|nc| nc.as_ref()),
            );
            Certificate::from_der(&der).to_owned()
        })
        .collect()
}

/// A minimal X.509 v3 certificate whose subject (the *contents* of the Name SEQUENCE), public
/// key (the *contents* of the SubjectPublicKeyInfo SEQUENCE) and optional name constraints
/// (the contents of the NameConstraints SEQUENCE) are the given ones: the inverse of how
/// webpki reads a trust anchor out of a root certificate. The signature is empty: nothing
/// checks the signature of a root.
pub fn anchor_certificate(subject: &[u8], spki: &[u8], name_constraints: Option<&[u8]>) -> Vec<u8> {
    // sha256WithRSAEncryption, NULL parameters: any algorithm will do, it only has to be the
    // same in both places (webpki compares them).
    const ALGORITHM: &[u8] =
        &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00];
    const VERSION_3: &[u8] = &[0xa0, 0x03, 0x02, 0x01, 0x02];
    const SERIAL_1: &[u8] = &[0x02, 0x01, 0x01];
    // 1970-01-01 .. 9999-12-31: never consulted for a root, but well-formed.
    const VALIDITY: &[u8] = b"\x30\x20\x17\x0d700101000000Z\x18\x0f99991231235959Z";
    // id-ce-nameConstraints, 2.5.29.30.
    const NAME_CONSTRAINTS_OID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x1e];

    let name = der(0x30, subject);
    let mut tbs = Vec::with_capacity(subject.len() * 2 + spki.len() + 96);
    for part in [VERSION_3, SERIAL_1, ALGORITHM, &name, VALIDITY, &name, &der(0x30, spki)] {
        tbs.extend_from_slice(part);
    }
    if let Some(nc) = name_constraints {
        let value = der(0x04, &der(0x30, nc));
        let extension = der(0x30, &[NAME_CONSTRAINTS_OID, &value].concat());
        tbs.extend_from_slice(&der(0xa3, &der(0x30, &extension)));
    }
    let signature: &[u8] = &[0x03, 0x01, 0x00];
    der(0x30, &[&der(0x30, &tbs), ALGORITHM, signature].concat())
}

/// One DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// True if `bytes` is exactly one DER SEQUENCE (what every certificate is). A cheap guard
/// against PEM blocks of garbage, which rustls would otherwise skip without a word.
pub fn is_der_sequence(bytes: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (bytes.first(), bytes.get(1)) else { return false };
    let (header, len) = if first < 0x80 {
        (2usize, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return false;
        }
        let Some(len_bytes) = bytes.get(2..2 + n) else { return false };
        (2 + n, len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    };
    header.checked_add(len) == Some(bytes.len())
}

#[cfg(test)]
mod tests;
