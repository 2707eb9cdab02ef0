//! YAML source positions: maps each node's path (`messages[1].interactive.buttons[2].title`) to
//! its line and column, so semantic errors found after deserialization can still point at the file.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Path → (line, column), both 1-based. Mapping entries point at their key.
#[derive(Debug, Default)]
pub struct Positions(HashMap<String, (usize, usize)>);

enum Frame {
    /// A mapping: the path of the mapping and the key waiting for its value, if any.
    Map { path: String, key: Option<String> },
    /// A sequence: its path and the index of the next item.
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    map: HashMap<String, (usize, usize)>,
}

impl Builder {
    /// The path of the node that starts now, advancing the parent frame; `None` when the node is
    /// a mapping key rather than a value.
    fn child(&mut self, scalar: Option<&str>, mark: Marker) -> Option<String> {
        let pos = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.map.entry(p.clone()).or_insert(pos);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // This node is a key: remember where it stands.
                    let k = scalar.unwrap_or("?").to_string();
                    self.map.insert(join(path, &k), pos);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.child(Some(&value), mark);
            }
            Event::Alias(_) => {
                self.child(None, mark);
            }
            Event::MappingStart(..) => {
                let path = self.child(None, mark).unwrap_or_default();
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.child(None, mark).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Positions {
    /// Index a YAML document. Syntax errors are reported by serde_yaml, so a failure here only
    /// means positions are unknown.
    pub fn index(source: &str) -> Positions {
        let mut b = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut b, false).is_err() {
            return Positions::default();
        }
        Positions(b.map)
    }

    /// Position of `path`, or of its nearest indexed ancestor.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_sequence_items() {
        let src =
            "name: x\nmessages:\n  - type: text\n    body: hi\n  - type: image\n    captoin: y\n";
        let pos = Positions::index(src);
        assert_eq!(pos.find("name"), Some((1, 1)));
        assert_eq!(pos.find("messages[1].captoin"), Some((6, 5)));
        // Block mappings in a sequence are marked on their first line.
        assert_eq!(pos.find("messages[0]").map(|p| p.0), Some(3));
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(pos.find("messages[1].nope[3]").map(|p| p.0), Some(5));
    }
}
