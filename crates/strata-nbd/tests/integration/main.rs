//! Integration tests of the NBD server, one binary: real qemu-io, qemu-img, nbdinfo and fio
//! against the server (`interop_qemu`), our client against our server (`client_server`), and
//! hand-made bytes on raw sockets (`malformed_input`), STARTTLS in both modes (`tls`, over
//! the throwaway CA of `pki`), over the shared fixture in `common`.

mod client_pool;
mod client_server;
mod common;
mod interop_qemu;
mod malformed_input;
mod pki;
mod tls;
