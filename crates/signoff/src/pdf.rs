//! The printable PDF of a signed form.
