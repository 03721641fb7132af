//! The limits a definition must stay within, so that hostile input is refused with a problem
//! instead of exhausting the stack, the CPU or the memory of the process that reads it.
//!
//! Every recursive walk in this crate (the condition parser and evaluator, template and schema
//! walks) stops at [`MAX_NESTING`]; context paths have at most [`MAX_PATH_SEGMENTS`] segments,
//! because writing through a long path builds a value as deep as the path. The other limits
//! keep the work of validating one definition small and linear. They are generous for people:
//! the seven marketplace workflows use at most 17 states, names of 22 characters, conditions of
//! 84 characters without parentheses, paths of 3 segments and 3 levels of nesting.
//! `DEFINITIONS.md` lists them.
//!
//! The size of the JSON body is limited by whoever reads it (the server takes at most 1 MiB).

/// States per definition, branch states included.
pub const MAX_STATES: usize = 1_000;

/// Characters in a workflow, state, branch or decision name.
pub const MAX_NAME_CHARS: usize = 128;

/// Characters in one `choice` condition.
pub const MAX_CONDITION_CHARS: usize = 4_096;

/// Levels of nesting: parentheses and `not` in a condition, arrays and objects in a template,
/// schemas inside schemas (`properties`, `items`) in the input schema.
pub const MAX_NESTING: usize = 32;

/// Segments of a context path (`steps.credit.score` has 3).
pub const MAX_PATH_SEGMENTS: usize = 32;

/// Problems listed for one definition; past this, one last problem says how many more there are.
pub const MAX_PROBLEMS: usize = 200;
