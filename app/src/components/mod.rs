//! Pieces the pages are built from.

pub mod charts;
pub mod empty_state;
pub mod layout;
pub mod page_header;
pub mod status;
