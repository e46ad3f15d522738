//! The backend conformance suite on `MemoryAws` (the same scenarios run on the SDK backend
//! against moto in `amikeeper-aws`): one test per scenario of `amikeeper::conformance`.

use amikeeper::conformance::MemoryFixture;

amikeeper::conformance_tests!(
    #[tokio::test(start_paused = true)]
    Some(MemoryFixture::new())
);
