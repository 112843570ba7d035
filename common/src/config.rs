//! The one configuration schema of both roles. Placeholder: being written.
