//! The text of each notification and the request bodies of Discord and
//! Telegram: plain functions, no I/O.

use serde_json::{Value, json};
use tos_pool_common::network::Network;

use super::Notification;

/// Atomic units in one TOS.
pub const ATOMIC_PER_TOS: u64 = 100_000_000;

/// Longest Discord message content, characters.
pub const DISCORD_MAX_CHARS: usize = 2_000;

/// Longest Telegram message text, characters.
pub const TELEGRAM_MAX_CHARS: usize = 4_096;

/// An amount in atomic units as TOS, without trailing zeros
/// (`150000000` → `1.5 TOS`).
pub fn tos(amount: u64) -> String {
    let whole = amount / ATOMIC_PER_TOS;
    let fraction = amount % ATOMIC_PER_TOS;
    if fraction == 0 {
        return format!("{whole} TOS");
    }
    let digits = format!("{fraction:08}");
    format!("{whole}.{} TOS", digits.trim_end_matches('0'))
}

/// The human text of `notification` on `network`.
pub fn text(notification: &Notification, network: Network) -> String {
    match notification {
        Notification::BlockFound {
            hash,
            height,
            finder,
            reward,
        } => format!(
            "Block found on {network} at height {height}\nhash {hash}\nfinder {finder}\nexpected reward {}",
            tos(*reward)
        ),
        Notification::BlockOrphaned { hash, height } => format!(
            "Block orphaned on {network} at height {height}\nhash {hash}\nits immature credits were reversed"
        ),
        Notification::PaymentSent {
            payment_id,
            tx_hash,
            amount,
            fee,
            transfers,
        } => format!(
            "Payment sent on {network}: {} to {transfers} address{} (fee {})\npayment {payment_id}\ntx {tx_hash}",
            tos(*amount),
            if *transfers == 1 { "" } else { "es" },
            tos(*fee)
        ),
    }
}

/// The body of a Discord webhook call.
pub fn discord_body(text: &str) -> Value {
    json!({
        "username": "TOS Pool",
        "content": truncate(text, DISCORD_MAX_CHARS),
    })
}

/// The body of a Telegram `sendMessage` call.
pub fn telegram_body(chat_id: &str, text: &str) -> Value {
    json!({
        "chat_id": chat_id,
        "text": truncate(text, TELEGRAM_MAX_CHARS),
        "disable_web_page_preview": true,
    })
}

/// The Telegram `sendMessage` URL of a bot under the Bot API at `api_url`.
pub fn telegram_url(api_url: &str, token: &str) -> String {
    format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/'))
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_tos() {
        assert_eq!(tos(0), "0 TOS");
        assert_eq!(tos(150_000_000), "1.5 TOS");
        assert_eq!(tos(1), "0.00000001 TOS");
        assert_eq!(tos(97_486_707), "0.97486707 TOS");
        assert_eq!(tos(2 * ATOMIC_PER_TOS), "2 TOS");
    }

    #[test]
    fn each_event_has_its_text() {
        let found = Notification::BlockFound {
            hash: "ab".repeat(32),
            height: 1234,
            finder: "tst1finder".into(),
            reward: 150_000_000,
        };
        let text = text(&found, Network::Devnet);
        assert!(
            text.starts_with("Block found on devnet at height 1234"),
            "{text}"
        );
        assert!(text.contains(&"ab".repeat(32)));
        assert!(text.contains("finder tst1finder"));
        assert!(text.contains("1.5 TOS"));

        let orphaned = Notification::BlockOrphaned {
            hash: "cd".repeat(32),
            height: 7,
        };
        let text = super::text(&orphaned, Network::Mainnet);
        assert!(
            text.starts_with("Block orphaned on mainnet at height 7"),
            "{text}"
        );

        let paid = Notification::PaymentSent {
            payment_id: "p-1".into(),
            tx_hash: "ef".repeat(32),
            amount: 300_000_000,
            fee: 1_000,
            transfers: 1,
        };
        let text = super::text(&paid, Network::Devnet);
        assert!(
            text.contains("3 TOS to 1 address (fee 0.00001 TOS)"),
            "{text}"
        );
        assert!(text.contains("payment p-1"));
    }

    #[test]
    fn bodies_follow_the_services_and_their_limits() {
        let body = discord_body("hello");
        assert_eq!(body["content"], "hello");
        let long = "x".repeat(DISCORD_MAX_CHARS + 10);
        let body = discord_body(&long);
        let content = body["content"].as_str().expect("a string");
        assert_eq!(content.chars().count(), DISCORD_MAX_CHARS);
        assert!(content.ends_with('…'));

        let body = telegram_body("-100123", "hi");
        assert_eq!(body["chat_id"], "-100123");
        assert_eq!(body["text"], "hi");
        assert_eq!(
            telegram_url("https://api.telegram.org/", "123:abc"),
            "https://api.telegram.org/bot123:abc/sendMessage"
        );
    }
}
