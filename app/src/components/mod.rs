//! Building blocks shared by the console's pages: the layout around every page, page headers,
//! empty states.

pub mod empty_state;
pub mod layout;
pub mod page_header;
