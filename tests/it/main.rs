//! The one integration-test binary: every test file is a module here, sharing `common`.

mod common;

mod auth;
mod checkpoint_bound;
mod convert_corpus;
mod convert_roundtrip;
mod convert_threads;
mod corrupt_payloads;
mod envelope;
mod files_kept;
mod golden;
mod harness;
mod hostile;
mod inspect_vs_server;
mod integrity_rules;
mod json_schema;
mod key_names_memory;
mod load;
mod load_boundaries;
mod load_faults;
mod load_trust;
mod memory;
mod memory_release;
mod net_faults;
mod newest_formats;
mod odd_valid;
mod production;
mod rewrite;
mod small_texts;
mod template_memory;
mod tls;
mod verify;
