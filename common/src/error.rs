//! Errors written out for people: one line with every cause.

use std::error::Error;

/// `error` and its chain of causes on one line, outermost first, joined by
/// `": "`. A transport error's useful part ("connection refused") often sits
/// several sources deep, where `Display` of the outer error does not show it.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layers(messages: &[&'static str]) -> Option<Box<Layer>> {
        messages.iter().rev().fold(None, |cause, message| {
            Some(Box::new(Layer { message, cause }))
        })
    }

    #[test]
    fn every_cause_in_order() {
        let error =
            layers(&["client error", "connect", "connection refused"]).expect("three layers");
        assert_eq!(
            chain(error.as_ref()),
            "client error: connect: connection refused"
        );
    }

    #[test]
    fn an_error_without_a_source_is_its_own_text() {
        let error = layers(&["timed out"]).expect("one layer");
        assert_eq!(chain(error.as_ref()), "timed out");
        let io = std::io::Error::other("disk full");
        assert_eq!(chain(&io), "disk full");
    }
}
