//! Retry controllers: what a flow's retry is, the history it reasons on, its
//! decisions, and the builtin controllers' logic (TaskFlow's `Times`,
//! `ForEach`, `ParameterizedForEach`, `AlwaysRevert`, `AlwaysRevertAll`).

use crate::failure::{AtomFailure, Failure, kinds};
use crate::limits::LimitOverrides;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How a retry controller resolves a failure in its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Revert the scope and run it again.
    Retry,
    /// Revert the scope; the enclosing retry (if any) is consulted first.
    Revert,
    /// Revert the whole flow.
    RevertAll,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Retry => "RETRY",
            Decision::Revert => "REVERT",
            Decision::RevertAll => "REVERT_ALL",
        })
    }
}

/// One attempt of a retry's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// What the retry's `execute` provided for this attempt.
    pub value: Value,
    /// Failures of atoms in the scope during this attempt.
    pub failures: Vec<AtomFailure>,
}

/// What a retry controller has seen, oldest attempt first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The attempts so far.
    pub attempts: Vec<Attempt>,
    /// The retry's own failure, when its `execute` failed.
    pub failure: Option<Failure>,
}

impl History {
    /// The values provided so far, in order.
    pub fn provided(&self) -> impl Iterator<Item = &Value> {
        self.attempts.iter().map(|a| &a.value)
    }
}

/// Waiting between attempts (beyond TaskFlow, builtins only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Delay {
    /// The same pause before every new attempt.
    Fixed(Duration),
    /// `initial`, then multiplied by `factor` per attempt, never above `max`.
    Exponential {
        /// Pause before the second attempt.
        initial: Duration,
        /// Growth per attempt (at least 1).
        factor: f64,
        /// Upper bound of a pause.
        max: Duration,
    },
}

impl Delay {
    /// The pause before attempt number `attempt` (1-based); none before the first.
    pub fn before(&self, attempt: usize) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        match *self {
            Delay::Fixed(d) => d,
            Delay::Exponential {
                initial,
                factor,
                max,
            } => {
                let exponent = i32::try_from(attempt - 2).unwrap_or(i32::MAX);
                let secs = initial.as_secs_f64() * factor.max(1.0).powi(exponent);
                if secs.is_finite() && secs < max.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    max
                }
            }
        }
    }
}

/// Which controller decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Controller {
    /// Retries until `attempts` attempts have failed; provides the attempt number.
    Times {
        /// Attempts in total.
        attempts: u32,
        /// REVERT_ALL instead of REVERT when exhausted.
        revert_all: bool,
    },
    /// Tries each value in turn; provides the current one.
    ForEach {
        /// The values.
        values: Vec<Value>,
        /// REVERT_ALL instead of REVERT when exhausted.
        revert_all: bool,
    },
    /// Like `ForEach`, with the values taken from argument `values`
    /// (from the store, usually through `rebind`).
    ParameterizedForEach {
        /// REVERT_ALL instead of REVERT when exhausted.
        revert_all: bool,
    },
    /// Always REVERT.
    AlwaysRevert,
    /// Always REVERT_ALL.
    AlwaysRevertAll,
    /// A WebAssembly component implementing world `retry`.
    Plugin {
        /// The plugin's name.
        plugin: String,
    },
}

/// Argument name `ParameterizedForEach` reads its values from.
pub const VALUES_ARG: &str = "values";

impl Controller {
    /// Arguments a builtin requires (plugins say so in `describe`).
    pub fn builtin_requires(&self) -> Vec<String> {
        match self {
            Controller::ParameterizedForEach { .. } => vec![VALUES_ARG.to_string()],
            _ => Vec::new(),
        }
    }

    fn exhausted(revert_all: bool) -> Decision {
        if revert_all {
            Decision::RevertAll
        } else {
            Decision::Revert
        }
    }

    /// Values not provided yet, in order (each value counts as often as it
    /// appears, as TaskFlow's `sequence_minus` does).
    fn remaining<'v>(values: &'v [Value], history: &History) -> Vec<&'v Value> {
        let mut left: Vec<&Value> = values.iter().collect();
        for used in history.provided() {
            if let Some(i) = left.iter().position(|v| *v == used) {
                left.remove(i);
            }
        }
        left
    }

    fn values_arg(args: &Value) -> Result<&[Value], Failure> {
        args.get(VALUES_ARG)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                Failure::new(
                    kinds::INVALID_ARGUMENTS,
                    "parameterized_for_each needs argument 'values' to be an array",
                )
            })
    }

    /// A builtin's `execute`: the value its scope gets for the next attempt.
    pub fn builtin_execute(&self, history: &History, args: &Value) -> Result<Value, Failure> {
        let next = |values: &[Value]| {
            Controller::remaining(values, history)
                .first()
                .map(|v| (*v).clone())
                .ok_or_else(|| Failure::new("retry.exhausted", "no values left to try"))
        };
        match self {
            Controller::Times { .. } => Ok(Value::from(history.attempts.len() + 1)),
            Controller::ForEach { values, .. } => next(values),
            Controller::ParameterizedForEach { .. } => next(Controller::values_arg(args)?),
            Controller::AlwaysRevert | Controller::AlwaysRevertAll => Ok(Value::Null),
            Controller::Plugin { plugin } => Err(Failure::new(
                kinds::INVALID_ARGUMENTS,
                format!("plugin retry '{plugin}' is not a builtin"),
            )),
        }
    }

    /// A builtin's `on_failure`. For a plugin this is REVERT_ALL: plugins
    /// decide in the sandbox, never here.
    pub fn builtin_on_failure(&self, history: &History, args: &Value) -> Decision {
        match self {
            Controller::Times {
                attempts,
                revert_all,
            } => {
                if history.attempts.len() < *attempts as usize {
                    Decision::Retry
                } else {
                    Controller::exhausted(*revert_all)
                }
            }
            Controller::ForEach { values, revert_all } => {
                if Controller::remaining(values, history).is_empty() {
                    Controller::exhausted(*revert_all)
                } else {
                    Decision::Retry
                }
            }
            Controller::ParameterizedForEach { revert_all } => match Controller::values_arg(args) {
                Ok(values) if !Controller::remaining(values, history).is_empty() => Decision::Retry,
                _ => Controller::exhausted(*revert_all),
            },
            Controller::AlwaysRevert => Decision::Revert,
            Controller::AlwaysRevertAll | Controller::Plugin { .. } => Decision::RevertAll,
        }
    }
}

/// A retry controller attached to a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Unique atom name of the retry.
    pub name: String,
    /// Who decides.
    pub controller: Controller,
    /// Name its `execute` result is provided under, if any.
    pub provides: Option<String>,
    /// Required arguments; `None`: the builtin's or the plugin's own.
    pub requires: Option<Vec<String>>,
    /// Argument name → store name it is read from.
    pub rebind: BTreeMap<String, String>,
    /// Argument name → fixed value.
    pub inject: BTreeMap<String, Value>,
    /// Pause between attempts (builtins).
    pub delay: Option<Delay>,
    /// Sandbox limits (plugins).
    pub limits: LimitOverrides,
}

impl Retry {
    /// A retry named `name` with `controller` and nothing else set.
    pub fn new(name: impl Into<String>, controller: Controller) -> Self {
        Retry {
            name: name.into(),
            controller,
            provides: None,
            requires: None,
            rebind: BTreeMap::new(),
            inject: BTreeMap::new(),
            delay: None,
            limits: LimitOverrides::default(),
        }
    }

    /// TaskFlow's `Times(attempts)`.
    pub fn times(name: impl Into<String>, attempts: u32) -> Self {
        Retry::new(
            name,
            Controller::Times {
                attempts,
                revert_all: false,
            },
        )
    }

    /// TaskFlow's `ForEach(values)`.
    pub fn for_each(name: impl Into<String>, values: Vec<Value>) -> Self {
        Retry::new(
            name,
            Controller::ForEach {
                values,
                revert_all: false,
            },
        )
    }

    /// TaskFlow's `ParameterizedForEach`, reading `values` from store name `from`.
    pub fn parameterized_for_each(name: impl Into<String>, from: impl Into<String>) -> Self {
        let mut retry = Retry::new(name, Controller::ParameterizedForEach { revert_all: false });
        retry.rebind.insert(VALUES_ARG.to_string(), from.into());
        retry
    }

    /// A retry controller plugin.
    pub fn plugin(name: impl Into<String>, plugin: impl Into<String>) -> Self {
        Retry::new(
            name,
            Controller::Plugin {
                plugin: plugin.into(),
            },
        )
    }

    /// Provides the `execute` result under `name`.
    #[must_use]
    pub fn provides(mut self, name: impl Into<String>) -> Self {
        self.provides = Some(name.into());
        self
    }

    /// Makes an exhausted builtin decide REVERT_ALL instead of REVERT.
    #[must_use]
    pub fn revert_all(mut self, on: bool) -> Self {
        match &mut self.controller {
            Controller::Times { revert_all, .. }
            | Controller::ForEach { revert_all, .. }
            | Controller::ParameterizedForEach { revert_all } => *revert_all = on,
            _ => {}
        }
        self
    }

    /// Pauses between attempts.
    #[must_use]
    pub fn delay(mut self, delay: Delay) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Passes `value` as argument `arg`.
    #[must_use]
    pub fn inject(mut self, arg: impl Into<String>, value: Value) -> Self {
        self.inject.insert(arg.into(), value);
        self
    }

    /// Reads argument `arg` from store name `from`.
    #[must_use]
    pub fn rebind(mut self, arg: impl Into<String>, from: impl Into<String>) -> Self {
        self.rebind.insert(arg.into(), from.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn history(values: &[Value]) -> History {
        History {
            attempts: values
                .iter()
                .map(|v| Attempt {
                    value: v.clone(),
                    failures: Vec::new(),
                })
                .collect(),
            failure: None,
        }
    }

    #[test]
    fn times_counts_attempts() {
        let c = Controller::Times {
            attempts: 3,
            revert_all: false,
        };
        assert_eq!(c.builtin_execute(&history(&[]), &Value::Null), Ok(json!(1)));
        assert_eq!(
            c.builtin_execute(&history(&[json!(1)]), &Value::Null),
            Ok(json!(2))
        );
        assert_eq!(
            c.builtin_on_failure(&history(&[json!(1), json!(2)]), &Value::Null),
            Decision::Retry
        );
        assert_eq!(
            c.builtin_on_failure(&history(&[json!(1), json!(2), json!(3)]), &Value::Null),
            Decision::Revert
        );
    }

    #[test]
    fn for_each_walks_values_counting_duplicates() {
        let c = Controller::ForEach {
            values: vec![json!("a"), json!("b"), json!("a")],
            revert_all: true,
        };
        assert_eq!(
            c.builtin_execute(&history(&[json!("a")]), &Value::Null),
            Ok(json!("b"))
        );
        assert_eq!(
            c.builtin_execute(&history(&[json!("a"), json!("b")]), &Value::Null),
            Ok(json!("a"))
        );
        let all = history(&[json!("a"), json!("b"), json!("a")]);
        assert_eq!(
            c.builtin_on_failure(&all, &Value::Null),
            Decision::RevertAll
        );
        assert!(c.builtin_execute(&all, &Value::Null).is_err());
    }

    #[test]
    fn parameterized_for_each_reads_its_argument() {
        let c = Controller::ParameterizedForEach { revert_all: false };
        let args = json!({"values": [10, 20]});
        assert_eq!(
            c.builtin_execute(&history(&[json!(10)]), &args),
            Ok(json!(20))
        );
        assert_eq!(
            c.builtin_on_failure(&history(&[json!(10), json!(20)]), &args),
            Decision::Revert
        );
        let err = c.builtin_execute(&history(&[]), &json!({"values": 3}));
        assert_eq!(
            err.map_err(|f| f.kind),
            Err(kinds::INVALID_ARGUMENTS.to_string())
        );
    }

    #[test]
    fn delays() {
        let fixed = Delay::Fixed(Duration::from_millis(100));
        assert_eq!(fixed.before(1), Duration::ZERO);
        assert_eq!(fixed.before(5), Duration::from_millis(100));
        let exp = Delay::Exponential {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_millis(350),
        };
        assert_eq!(exp.before(2), Duration::from_millis(100));
        assert_eq!(exp.before(3), Duration::from_millis(200));
        assert_eq!(exp.before(4), Duration::from_millis(350));
        assert_eq!(exp.before(400), Duration::from_millis(350));
    }
}
