//! What the compiler refuses: a pointer kind that does not say where the sweep's in-use scan
//! finds its pointers (`tests/ui/kind_without_usages.rs`, error E0046).

#[test]
fn a_pointer_kind_without_in_use_usages_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/kind_without_usages.rs");
}
