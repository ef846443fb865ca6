//! What one check says about one subject.

/// The result of one check on one subject. `Waived` is applied later, by exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// One violation per container or object at fault.
    Fail(Vec<Violation>),
    NotApplicable(String),
    /// The check could not be evaluated.
    Error(String),
}

/// One thing at fault: the message names the container and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub container: Option<String>,
    pub message: String,
}

impl Violation {
    pub fn object(message: impl Into<String>) -> Self {
        Violation { container: None, message: message.into() }
    }

    pub fn container(container: &str, message: impl Into<String>) -> Self {
        Violation { container: Some(container.to_string()), message: message.into() }
    }
}

impl Outcome {
    /// Pass when there are no violations, else Fail.
    pub fn from_violations(violations: Vec<Violation>) -> Outcome {
        if violations.is_empty() { Outcome::Pass } else { Outcome::Fail(violations) }
    }

    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome::Fail(vec![Violation::object(message)])
    }

    pub fn not_applicable(reason: impl Into<String>) -> Outcome {
        Outcome::NotApplicable(reason.into())
    }

    pub fn error(reason: impl Into<String>) -> Outcome {
        Outcome::Error(reason.into())
    }
}
