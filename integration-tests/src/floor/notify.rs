//! A job's `mining.notify` line, encoded once and copied per session with
//! the session's extra_nonce written into the MinerWork's hex.

use tos_pool_common::difficulty::Target;
use tos_pool_common::header::MinerWork;

/// Where the extra_nonce sits in the MinerWork (bytes 48..80).
const EXTRA_NONCE_AT: usize = 48;
/// Length of the extra_nonce in bytes.
const EXTRA_NONCE_LEN: usize = 32;

/// One job's notify line with a hole for each session's extra_nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyTemplate {
    /// The job's id, as sent.
    pub job_id: String,
    line: Vec<u8>,
    /// Offset in `line` of the extra_nonce's first hex digit.
    extra_nonce_at: usize,
}

impl NotifyTemplate {
    /// The notify of job `job_id` at `height` for `work` (its extra_nonce is
    /// replaced per session) and share `target`, as the pool writes it:
    /// `{"id":null,"method":"mining.notify","params":[id, work hex, target hex, height, clean]}`.
    pub fn new(job_id: &str, work: &MinerWork, target: &Target, height: u64) -> NotifyTemplate {
        let work_hex = work.to_hex();
        let head = format!(r#"{{"id":null,"method":"mining.notify","params":["{job_id}",""#);
        let line = format!(
            "{head}{work_hex}\",\"{}\",{height},true]}}\n",
            target.to_hex()
        );
        NotifyTemplate {
            job_id: job_id.to_owned(),
            line: line.into_bytes(),
            extra_nonce_at: head.len() + 2 * EXTRA_NONCE_AT,
        }
    }

    /// Writes the line for a session with `extra_nonce` into `out`
    /// (cleared first).
    pub fn write_for(&self, extra_nonce: &[u8; EXTRA_NONCE_LEN], out: &mut Vec<u8>) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        out.clear();
        out.extend_from_slice(&self.line);
        let hole = out
            .get_mut(self.extra_nonce_at..self.extra_nonce_at + 2 * EXTRA_NONCE_LEN)
            .unwrap_or_default();
        for (pair, byte) in hole.chunks_exact_mut(2).zip(extra_nonce) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
    }
}

/// The extra_nonce of session number `session`: its number, little-endian,
/// in the first eight bytes (the subscribe answer's extranonce1).
pub fn extra_nonce_of(session: u64) -> [u8; EXTRA_NONCE_LEN] {
    let mut extra_nonce = [0; EXTRA_NONCE_LEN];
    extra_nonce[..8].copy_from_slice(&session.to_le_bytes());
    extra_nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tos_pool_common::difficulty::Difficulty;

    #[test]
    fn each_session_gets_the_job_with_its_own_extra_nonce() {
        let work = MinerWork::new(&[7; 32], 1_700_000_000_000, 0, &[0; 32], &[9; 32]);
        let target = Difficulty::from_u64(1000).expect("non-zero").target();
        let template = NotifyTemplate::new("f12", &work, &target, 12);
        let mut line = Vec::new();
        template.write_for(&extra_nonce_of(0x0102), &mut line);
        assert_eq!(line.last(), Some(&b'\n'));
        let notify: Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(notify["method"], "mining.notify");
        assert_eq!(notify["id"], Value::Null);
        let params = notify["params"].as_array().expect("params");
        assert_eq!(params[0], "f12");
        let sent = MinerWork::from_hex(params[1].as_str().expect("hex")).expect("work");
        let mut expected = work;
        expected.set_extra_nonce(&extra_nonce_of(0x0102));
        assert_eq!(sent, expected);
        assert_eq!(params[2], target.to_hex());
        assert_eq!(params[3], 12);
        assert_eq!(params[4], true);

        template.write_for(&extra_nonce_of(5), &mut line);
        let notify: Value = serde_json::from_slice(&line).expect("JSON");
        let sent = MinerWork::from_hex(notify["params"][1].as_str().expect("hex")).expect("work");
        assert_eq!(sent.extra_nonce(), extra_nonce_of(5));
    }
}
