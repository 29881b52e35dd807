//! Recover the readable records of an object whose JSON as a whole cannot be parsed.
//!
//! One broken record (invalid UTF-8, a raw control character, a truncated tail) must not cost the
//! other records of its object. When the fast whole-document parse fails, this scanner finds the
//! `"Records"` array and cuts it into its top-level elements at the byte level, tracking nesting,
//! strings and escapes without requiring valid UTF-8; each element is then decoded on its own and
//! only the broken ones become rejects. An element cut off by the end of the text is returned as
//! the `tail`.

/// Elements of the `Records` array, and an unterminated last element if the text ends inside it.
#[derive(Debug, PartialEq)]
pub struct Salvaged<'a> {
    /// Complete elements, in order.
    pub elements: Vec<&'a [u8]>,
    /// A final element that the text ends inside.
    pub tail: Option<&'a [u8]>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// Find `"Records"` : `[` and split the array. `None` when there is no such array.
pub fn split_records(text: &[u8]) -> Option<Salvaged<'_>> {
    const KEY: &[u8] = b"\"Records\"";
    let pos = text.windows(KEY.len()).position(|w| w == KEY)?;
    let mut i = skip_ws(text, pos + KEY.len());
    if text.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(text, i + 1);
    if text.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let mut elements = Vec::new();
    loop {
        i = skip_ws(text, i);
        match text.get(i) {
            None => {
                return Some(Salvaged {
                    elements,
                    tail: None,
                });
            }
            Some(b']') => {
                return Some(Salvaged {
                    elements,
                    tail: None,
                });
            }
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(_) => {}
        }
        let start = i;
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        while i < text.len() {
            let c = text[i];
            if in_str {
                if esc {
                    esc = false;
                } else if c == b'\\' {
                    esc = true;
                } else if c == b'"' {
                    in_str = false;
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    b',' | b']' if depth == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        if depth > 0
            || in_str
            || (i >= text.len() && depth == 0 && text[start] == b'{')
                && !text[start..i].ends_with(b"}")
        {
            return Some(Salvaged {
                elements,
                tail: Some(&text[start..]),
            });
        }
        elements.push(&text[start..i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_around_broken_records() {
        let text = b"{\"Records\":[{\"a\":\"x,}]\\\"\"},{\"b\":\"\xff\"} , {\"c\":[1,{\"d\":2}]},{\"e\":\"a\x00b\"}]}";
        let s = split_records(text).unwrap();
        assert_eq!(
            s.elements,
            vec![
                &b"{\"a\":\"x,}]\\\"\"}"[..],
                &b"{\"b\":\"\xff\"}"[..],
                &b"{\"c\":[1,{\"d\":2}]}"[..],
                &b"{\"e\":\"a\x00b\"}"[..]
            ]
        );
        assert_eq!(s.tail, None);
    }

    #[test]
    fn a_truncated_tail_is_returned_apart() {
        let s = split_records(b"{\"Records\": [ {\"a\":1}, {\"b\":\"unfinished").unwrap();
        assert_eq!(s.elements, vec![&b"{\"a\":1}"[..]]);
        assert_eq!(s.tail, Some(&b"{\"b\":\"unfinished"[..]));
        assert_eq!(split_records(b"{\"records\":[]}"), None);
        assert_eq!(split_records(b"{\"Records\":{}}"), None);
    }
}
