//! Pure moderation rules (policy: 审核): text normalisation, keyword matching, contact-detail
//! detection and the perceptual-hash blocklist test. No I/O; the actor runs them.
//!
//! Evasions are undone before matching: full-width and compatibility characters (NFKC),
//! case, spaces, punctuation and zero-width characters between letters, common digit-for-
//! letter swaps, and Chinese or circled numerals in numbers.

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::moderation::fingerprint::Fingerprint;

/// What a rule says about a piece of content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reasons")]
pub enum Verdict {
    Pass,
    /// A person decides.
    Review(Vec<String>),
    /// Refused at once.
    Reject(Vec<String>),
}

impl Verdict {
    /// The stricter of two verdicts, reasons merged.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Reject(mut a), Reject(b)) => {
                a.extend(b);
                Reject(a)
            }
            (Reject(a), _) | (_, Reject(a)) => Reject(a),
            (Review(mut a), Review(b)) => {
                a.extend(b);
                Review(a)
            }
            (Review(a), Pass) | (Pass, Review(a)) => Review(a),
            (Pass, Pass) => Pass,
        }
    }
}

/// Whether a listed word refuses content at once or sends it to a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Block,
    Review,
}

/// Built in, so that a fresh install screens from the start; `DUOXIE_MODERATION_KEYWORDS_FILE`
/// replaces it. Lines: `block<TAB>word` or `review<TAB>word`; `#` starts a comment.
pub const DEFAULT_KEYWORDS: &str = "\
# Off-platform dealing and fraud, the platform's main risks (buyers lose its protection).
review\t私下交易
review\t加微信
review\t加v
review\t线下交易
review\t转账给我
block\t代开发票
block\t高仿
block\t a货
block\t假证书
block\t洗钱
# Gambling and drugs.
block\t赌博
block\t博彩
block\t冰毒
block\t大麻
# Latin-script equivalents.
review\tpay outside
block\treplica
block\tfake certificate
";

/// The keyword lists, compiled once into one automaton.
pub struct Keywords {
    matcher: AhoCorasick,
    words: Vec<(String, Severity)>,
}

impl Keywords {
    /// Parses the list format; errors name the line.
    pub fn parse(text: &str) -> Result<Keywords, String> {
        let mut words = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (severity, word) = line.split_once('\t').ok_or_else(|| {
                format!(
                    "line {}: expected `block<TAB>word` or `review<TAB>word`",
                    n + 1
                )
            })?;
            let severity = match severity.trim() {
                "block" => Severity::Block,
                "review" => Severity::Review,
                other => return Err(format!("line {}: unknown severity `{other}`", n + 1)),
            };
            let word = normalise_letters(word);
            if word.is_empty() {
                return Err(format!("line {}: the word is empty once normalised", n + 1));
            }
            words.push((word, severity));
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(words.iter().map(|(w, _)| w.as_str()))
            .map_err(|e| format!("keyword list: {e}"))?;
        Ok(Keywords { matcher, words })
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Every listed word in `text` (after normalisation), with its severity.
    pub fn find(&self, text: &str) -> Vec<(String, Severity)> {
        self.find_in_letters(&normalise_letters(text))
    }

    /// As [`Keywords::find`], on text already through [`normalise_letters`].
    fn find_in_letters(&self, letters: &str) -> Vec<(String, Severity)> {
        self.matcher
            .find_iter(letters)
            .map(|m| self.words[m.pattern().as_usize()].clone())
            .collect()
    }
}

/// For keywords: NFKC, lower case, digit-for-letter swaps undone, and everything but letters
/// (any script) dropped, so `A-货`, `ａ 货` and `a.货` all read `a货`.
pub fn normalise_letters(text: &str) -> String {
    letters_of_nfkc(&nfkc(text))
}

/// NFKC, without the work when the text already is (most chat text: a quick check says so).
fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{is_nfkc_quick, IsNormalized};
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.nfkc().collect())
    }
}

fn letters_of_nfkc(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .filter(|c| c.is_alphabetic())
        .collect()
}

/// For numbers: NFKC (full-width and circled digits become ASCII), Chinese numerals as
/// digits, and everything between digits dropped.
pub fn normalise_digits(text: &str) -> String {
    digits_of_nfkc(&nfkc(text))
}

fn digits_of_nfkc(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '零' | '〇' | 'o' | 'O' => Some('0'),
            '一' | '壹' | '幺' => Some('1'),
            '二' | '贰' | '两' => Some('2'),
            '三' | '叁' => Some('3'),
            '四' | '肆' => Some('4'),
            '五' | '伍' => Some('5'),
            '六' | '陆' => Some('6'),
            '七' | '柒' => Some('7'),
            '八' | '捌' => Some('8'),
            '九' | '玖' => Some('9'),
            c if c.is_alphabetic() => Some(' '),
            _ => None,
        })
        .collect()
}

/// Contact details that move a deal off the platform: a mobile number, a WeChat or QQ id,
/// a link. Each finding names its kind, never the detail itself (reasons are logged).
pub fn contact_details(text: &str) -> Vec<String> {
    contact_details_in(&Forms::of(text))
}

/// Names of WeChat, already in their normalised form (a test keeps them so).
const WECHAT_NAMES: [&str; 8] = [
    "微信", "weixin", "wechat", "vx", "wx", "v信", "薇信", "威信",
];

/// The normalised forms of a text that the rules read, each computed once per text: chat
/// screens every message with them, in the send path.
struct Forms {
    letters: String,
    digits: String,
    lower: String,
}

impl Forms {
    fn of(text: &str) -> Self {
        let normal = nfkc(text);
        Self {
            letters: letters_of_nfkc(&normal),
            digits: digits_of_nfkc(&normal),
            lower: normal.to_lowercase(),
        }
    }
}

fn contact_details_in(forms: &Forms) -> Vec<String> {
    let Forms {
        letters,
        digits,
        lower,
    } = forms;
    let mut found = Vec::new();
    if digits.split(' ').any(has_mobile_number) {
        found.push("contact: phone number".to_string());
    }
    if WECHAT_NAMES
        .iter()
        .any(|w| letters.contains(w) || lower.contains(w))
    {
        found.push("contact: wechat".to_string());
    }
    let qq_number = digits.split(' ').any(|run| (5..=11).contains(&run.len()));
    if (letters.contains("qq") || lower.contains("扣扣")) && qq_number {
        found.push("contact: qq".to_string());
    }
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("http")
        || compact.contains("www.")
        || [".com", ".cn", ".net", ".top"]
            .iter()
            .any(|d| compact.contains(d))
    {
        found.push("contact: link".to_string());
    }
    found
}

/// An 11-digit mainland mobile number anywhere in a run of digits.
fn has_mobile_number(run: &str) -> bool {
    let b = run.as_bytes();
    b.len() >= 11
        && b.windows(11)
            .any(|w| w[0] == b'1' && (b'3'..=b'9').contains(&w[1]))
}

/// Text rules: blocked words reject, listed review words and contact details go to a person.
pub fn screen_text(keywords: &Keywords, text: &str) -> Verdict {
    let forms = Forms::of(text);
    let mut verdict = Verdict::Pass;
    for (word, severity) in keywords.find_in_letters(&forms.letters) {
        let reason = format!("keyword: {word}");
        verdict = verdict.and(match severity {
            Severity::Block => Verdict::Reject(vec![reason]),
            Severity::Review => Verdict::Review(vec![reason]),
        });
    }
    let contacts = contact_details_in(&forms);
    if !contacts.is_empty() {
        verdict = verdict.and(Verdict::Review(contacts));
    }
    verdict
}

/// When an upload counts as a blocklisted picture (see [`screen_image`]).
#[derive(Clone, Copy, Debug)]
pub struct PictureMatch {
    /// PDQ bits (of 256) within which a picture is the listed one.
    pub max_distance: u32,
    /// Up to this many bits, a look-alike waits for a moderator.
    pub review_distance: u32,
    /// The largest colour difference of a grid cell for two pictures to be the same item.
    pub max_colour_distance: u32,
}

impl From<&super::settings::ModerationSettings> for PictureMatch {
    fn from(s: &super::settings::ModerationSettings) -> Self {
        PictureMatch {
            max_distance: s.blocklist_max_distance,
            review_distance: s.blocklist_review_distance,
            max_colour_distance: s.blocklist_max_colour_distance,
        }
    }
}

/// Against every listed picture of the same colours: within `max_distance` bits it is
/// refused, unless either picture is too plain for its hash to be trusted (PDQ quality under
/// 50), which a person decides; up to `review_distance` bits it looks alike enough for a
/// person to decide. A picture whose colours differ is another item, whatever its layout.
pub fn screen_image(upload: &Fingerprint, blocklist: &[Fingerprint], m: &PictureMatch) -> Verdict {
    let nearest = blocklist
        .iter()
        .map(|listed| upload.closeness(listed))
        .filter(|c| c.colour <= m.max_colour_distance)
        .min_by_key(|c| (c.bits, !c.trusted));
    match nearest {
        // The uploader is told that, never how close: a distance would guide evasion. (The
        // look-alike's distance below is for the moderator who reviews it.)
        Some(c) if c.bits <= m.max_distance && c.trusted => {
            Verdict::Reject(vec!["blocklisted image".to_string()])
        }
        Some(c) if c.bits <= m.max_distance => Verdict::Review(vec![format!(
            "matches a blocklisted image ({} of 256 bits apart) but is too plain for the \
             hash to be sure",
            c.bits
        )]),
        Some(c) if c.bits <= m.review_distance => Verdict::Review(vec![format!(
            "resembles a blocklisted image ({} of 256 bits apart)",
            c.bits
        )]),
        _ => Verdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_names_are_stored_normalised() {
        for w in WECHAT_NAMES {
            assert_eq!(normalise_letters(w), w);
        }
    }

    fn kinds(v: &Verdict) -> &'static str {
        match v {
            Verdict::Pass => "pass",
            Verdict::Review(_) => "review",
            Verdict::Reject(_) => "reject",
        }
    }

    #[test]
    fn keyword_variants_are_caught_and_clean_text_passes() {
        let keywords = Keywords::parse(DEFAULT_KEYWORDS).expect("the default list parses");
        let cases = [
            // Clean text, including words that merely contain listed letters.
            ("这只和田玉手镯成色很好", "pass"),
            ("Genuine jadeite, certificate included", "pass"),
            ("价格可以商量，平台担保交易", "pass"),
            ("my bank account is closed on sundays", "pass"),
            // Listed words and their disguises.
            ("高仿翡翠手镯", "reject"),
            ("高 仿", "reject"),
            ("高-仿 货源", "reject"),
            ("ｒｅｐｌｉｃａ rolex", "reject"),
            ("R3PL1CA watches", "reject"),
            ("re.pli.ca", "reject"),
            ("a货翡翠", "reject"),
            ("Ａ货", "reject"),
            ("可以私下交易吗", "review"),
            ("私 下 交 易", "review"),
            ("加微信详聊", "review"),
            // Contact details.
            ("联系我 13912345678", "review"),
            ("电话 139 1234 5678", "review"),
            ("一三九一二三四五六七八", "review"),
            ("①③⑨①②③④⑤⑥⑦⑧", "review"),
            ("vx: jade_lover88", "review"),
            ("威信 jade88", "review"),
            ("QQ 12345678", "review"),
            ("see www.example.com", "review"),
            ("price 1280 yuan, 2 pieces", "pass"),
        ];
        let mut failures = Vec::new();
        for (text, want) in cases {
            let got = screen_text(&keywords, text);
            if kinds(&got) != want {
                failures.push(format!("{text:?}: want {want}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_list_format_is_checked() {
        assert!(Keywords::parse("block\tword\n# comment\n\nreview\tother").is_ok());
        let err = Keywords::parse("block word").err().expect("no tab");
        assert!(err.contains("line 1"), "{err}");
        assert!(Keywords::parse("maybe\tword").is_err());
        assert!(Keywords::parse("block\t---").is_err());
    }

    #[test]
    fn verdicts_combine_to_the_stricter() {
        let r = Verdict::Review(vec!["a".into()]).and(Verdict::Reject(vec!["b".into()]));
        assert_eq!(r, Verdict::Reject(vec!["b".into()]));
        assert_eq!(Verdict::Pass.and(Verdict::Pass), Verdict::Pass);
    }

    #[test]
    fn blocklisted_pictures_catch_near_duplicates_of_the_same_colours_only() {
        use crate::moderation::pdq::Pdq;
        // A fingerprint whose hashes have the first `flipped` bits set, of the given quality
        // and (uniform) chroma.
        let print = |flipped: usize, quality: u8, chroma: i8| {
            let mut bits = [0u8; 32];
            for k in 0..flipped {
                bits[k / 8] |= 1 << (k % 8);
            }
            let view = crate::moderation::fingerprint::Cut {
                hash: Pdq { bits, quality },
                colour: [[chroma, chroma, 0]; 64],
            };
            Fingerprint {
                whole: view,
                cuts: vec![view; crate::moderation::fingerprint::CUTS.len()],
            }
        };
        let m = PictureMatch {
            max_distance: 31,
            review_distance: 40,
            max_colour_distance: 30,
        };
        let listed = [print(0, 90, 10)];
        assert!(
            matches!(screen_image(&print(31, 90, 10), &listed, &m), Verdict::Reject(r) if r == ["blocklisted image"])
        );
        assert!(
            matches!(
                screen_image(&print(36, 90, 10), &listed, &m),
                Verdict::Review(_)
            ),
            "36 bits away: a person decides"
        );
        assert_eq!(screen_image(&print(41, 90, 10), &listed, &m), Verdict::Pass);
        assert!(
            matches!(
                screen_image(&print(3, 20, 10), &listed, &m),
                Verdict::Review(_)
            ),
            "a plain picture's hash is not trusted to refuse"
        );
        assert_eq!(
            screen_image(&print(0, 90, 40), &listed, &m),
            Verdict::Pass,
            "the same layout in other colours is another item"
        );
        assert_eq!(screen_image(&print(0, 90, 10), &[], &m), Verdict::Pass);
    }
}
