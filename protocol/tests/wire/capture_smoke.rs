use crate::common;

#[test]
fn every_capture_parses_into_frames() {
    for name in common::all_logs() {
        let frames = common::load(&name);
        for frame in &frames {
            let size = i32::from_be_bytes(frame.bytes[..4].try_into().unwrap());
            assert_eq!(
                size as usize,
                frame.bytes.len() - 4,
                "{name}:{}",
                frame.line
            );
        }
    }
    let main = common::load("official-client-session.log");
    assert!(
        main.iter()
            .any(|f| f.role == common::Role::Spu && f.api_key == 1003)
    );
}
