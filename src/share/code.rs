//! Share codes (口令) as text: making one, and finding one in what a user pasted.
//!
//! A code is 10 characters of Crockford's base-32 alphabet (digits and capitals without I, L,
//! O, U, which are misread or spell words): 50 random bits. At the resolve limit per user
//! (`DUOXIE_SHARE_RESOLVES_PER_MINUTE`) guessing any one of a million live codes takes
//! longer than a code lives. The client wraps it as `￥CODE￥` in a sentence; whatever
//! comes back (that sentence, the bare code, lower case, full-width forms, spaces) is read.

use unicode_normalization::UnicodeNormalization;

pub const LEN: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh random code.
pub fn generate() -> String {
    let bits: u64 = rand::random();
    (0..LEN)
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// The code's characters as typed, read the way Crockford's alphabet reads them (o → 0, i
/// and l → 1, lower case → upper case); `None` for a character outside it.
fn canonical(c: char) -> Option<char> {
    if !c.is_ascii() {
        return None;
    }
    let c = c.to_ascii_uppercase();
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET.contains(&(c as u8)).then_some(c)
}

/// The code in `text`: between a pair of currency signs (￥, ¥, $) when there are, else the
/// only run of exactly `LEN` code characters; `None` when there is none or more than one.
pub fn find(text: &str) -> Option<String> {
    // NFKC: full-width letters and digits become ASCII, ￥ becomes ¥.
    let text: String = text.nfkc().collect();
    let runs = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(|run| {
                let code: Option<String> = run.chars().map(canonical).collect();
                code.filter(|c| c.len() == LEN)
            })
            .collect()
    };
    let wrapped: Vec<&str> = text.split(['¥', '$']).collect();
    if wrapped.len() >= 3 {
        let inside: Vec<String> = wrapped[1..wrapped.len() - 1]
            .iter()
            .step_by(2)
            .flat_map(|s| runs(&s.replace([' ', '-'], "")))
            .collect();
        if inside.len() == 1 {
            return inside.into_iter().next();
        }
    }
    let bare = text.trim().replace([' ', '-'], "");
    let found = runs(&bare);
    (found.len() == 1)
        .then(|| found.into_iter().next())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_in_the_alphabet_and_differ() {
        let a = generate();
        assert_eq!(a.len(), LEN);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)), "{a}");
        assert_ne!(a, generate());
        assert_eq!(find(&a).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn a_code_is_found_in_the_pasted_sentence_however_it_was_typed() {
        let text = "【多些】新疆和田玉籽料手镯 ￥K7Q2MX9PRT￥ 复制这段话，打开多些查看";
        assert_eq!(find(text).as_deref(), Some("K7Q2MX9PRT"));
        assert_eq!(find("k7q2mx9prt").as_deref(), Some("K7Q2MX9PRT"));
        assert_eq!(find(" K7Q2 MX9P RT ").as_deref(), Some("K7Q2MX9PRT"));
        // Full-width, and o/l read as 0/1.
        assert_eq!(find("ｋ７ｑ２ｍｘ９ｐｒｔ").as_deref(), Some("K7Q2MX9PRT"));
        assert_eq!(find("¥K7QOMX9PRL¥").as_deref(), Some("K7Q0MX9PR1"));
        assert_eq!(find("口令K7Q2MX9PRT打开").as_deref(), Some("K7Q2MX9PRT"));
    }

    #[test]
    fn text_without_exactly_one_code_finds_none() {
        for text in [
            "",
            "你好",
            "K7Q2MX9PR",
            "K7Q2MX9PRTX",
            "K7Q2MX9PRU",
            "AAAAAAAAAA BBBBBBBBBB",
        ] {
            assert_eq!(find(text), None, "{text:?}");
        }
    }
}
