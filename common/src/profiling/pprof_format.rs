//! The pprof `profile.proto` messages (package `perftools.profiles`) as prost
//! types, and a builder that interns strings, functions and locations.
//!
//! Field numbers follow `profile.proto` of github.com/google/pprof; `go tool
//! pprof` reads the gzip-compressed encoding that [`encode_gzip`] writes.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

/// A whole profile: sample types, samples and the tables they index into.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each value of a sample measures.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Mapped binaries and libraries.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Code locations referenced by samples.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by locations.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// All strings; entry 0 is always "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Regex (string index) of frames to drop.
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Regex (string index) of frames to keep.
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// When the profile was collected, in nanoseconds since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// How long the profile covers, in nanoseconds.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What one sampling period measures.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling period, in `period_type` units.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indexes).
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// The sample type shown by default (string index).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// A (type, unit) pair such as ("cpu", "nanoseconds"), as string indexes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// The type (string index).
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// The unit (string index).
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack with its measured values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per `Profile::sample_type`.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Extra key/value information.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A sample label: a string or a number under a key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Key (string index).
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String value (string index), or 0.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Numeric value.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// Unit of `num` (string index).
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// A mapped object file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start address in memory.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End address in memory.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// Offset in the file of `memory_start`.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// Object file path (string index).
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Build id (string index).
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Locations in it carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Locations in it carry file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Locations in it carry line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Locations in it carry inlined frames.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// A code location: an address and/or the source lines it stands for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Mapping id, or 0.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// Instruction address, or 0.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Source lines, inlined callees first and the caller last.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Several frames were folded into this one.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// A line of a function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Function id.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number, or 0.
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// Column number, or 0.
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Human-readable (demangled) name (string index).
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Mangled name (string index).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Source file (string index).
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// First line of the function.
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// gzip-compresses the encoded profile, as Go's `net/http/pprof` serves it.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail; an error here would be a flate2 bug, and
    // it still yields a (possibly empty) body rather than a panic.
    let _ = gz.write_all(&profile.encode_to_vec());
    gz.finish().unwrap_or_default()
}

/// Builds a [`Profile`], interning strings, functions and locations.
#[derive(Debug)]
pub struct ProfileBuilder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    locations: HashMap<Vec<(u64, i64)>, u64>,
}

impl ProfileBuilder {
    /// Starts a profile whose samples carry one value per `sample_types`
    /// entry (type, unit), taken every `period` `period_type` units.
    pub fn new(sample_types: &[(&str, &str)], period_type: (&str, &str), period: i64) -> Self {
        let mut builder = ProfileBuilder {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
        };
        builder.string("");
        for (kind, unit) in sample_types {
            let value_type = builder.value_type(kind, unit);
            builder.profile.sample_type.push(value_type);
        }
        builder.profile.period_type = Some(builder.value_type(period_type.0, period_type.1));
        builder.profile.period = period;
        builder
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(kind),
            unit: self.string(unit),
        }
    }

    /// Sets when the profile starts (ns since the epoch) and how long it lasts.
    pub fn timing(&mut self, time_nanos: i64, duration_nanos: i64) -> &mut Self {
        self.profile.time_nanos = time_nanos;
        self.profile.duration_nanos = duration_nanos;
        self
    }

    /// Adds a comment line shown by `go tool pprof -comments`.
    pub fn comment(&mut self, text: &str) -> &mut Self {
        let index = self.string(text);
        self.profile.comment.push(index);
        self
    }

    /// The string table index of `text`, adding it if new.
    pub fn string(&mut self, text: &str) -> i64 {
        if let Some(&index) = self.strings.get(text) {
            return index;
        }
        let index = i64::try_from(self.profile.string_table.len()).unwrap_or(i64::MAX);
        self.profile.string_table.push(text.to_owned());
        self.strings.insert(text.to_owned(), index);
        index
    }

    /// The id of the function `name` in `file` (mangled `system_name`).
    pub fn function(&mut self, name: &str, system_name: &str, file: &str) -> u64 {
        let key = (name.to_owned(), file.to_owned());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let function = Function {
            id,
            name: self.string(name),
            system_name: self.string(system_name),
            filename: self.string(file),
            start_line: 0,
        };
        self.profile.function.push(function);
        self.functions.insert(key, id);
        id
    }

    /// The id of the location made of `lines` ((function id, line number),
    /// inlined callees first).
    pub fn location(&mut self, lines: &[(u64, i64)]) -> u64 {
        if let Some(&id) = self.locations.get(lines) {
            return id;
        }
        let id = self.profile.location.len() as u64 + 1;
        self.profile.location.push(Location {
            id,
            line: lines
                .iter()
                .map(|&(function_id, line)| Line {
                    function_id,
                    line,
                    column: 0,
                })
                .collect(),
            ..Location::default()
        });
        self.locations.insert(lines.to_vec(), id);
        id
    }

    /// The id of a location standing for one frame named `name`.
    pub fn named_frame(&mut self, name: &str) -> u64 {
        let function = self.function(name, name, "");
        self.location(&[(function, 0)])
    }

    /// Adds a sample: its stack (location ids, leaf first), one value per
    /// sample type and string labels.
    pub fn sample(&mut self, stack: Vec<u64>, values: Vec<i64>, labels: &[(&str, &str)]) {
        let label = labels
            .iter()
            .map(|(key, value)| Label {
                key: self.string(key),
                str: self.string(value),
                ..Label::default()
            })
            .collect();
        self.profile.sample.push(Sample {
            location_id: stack,
            value: values,
            label,
        });
    }

    /// The finished profile.
    pub fn finish(self) -> Profile {
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    fn decode(bytes: &[u8]) -> Profile {
        let mut raw = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut raw).expect("gunzip");
        Profile::decode(raw.as_slice()).expect("decode")
    }

    #[test]
    fn builder_interns_and_round_trips() {
        let mut builder = ProfileBuilder::new(&[("samples", "count")], ("cpu", "nanoseconds"), 10);
        let leaf = builder.named_frame("leaf");
        let root = builder.named_frame("root");
        assert_eq!(builder.named_frame("leaf"), leaf);
        builder.sample(vec![leaf, root], vec![3], &[("thread", "main")]);
        builder.sample(vec![root], vec![1], &[]);
        let profile = decode(&encode_gzip(&builder.finish()));

        assert_eq!(profile.string_table[0], "");
        assert_eq!(profile.function.len(), 2);
        assert_eq!(profile.location.len(), 2);
        assert_eq!(profile.sample.len(), 2);
        let name_of = |location: u64| {
            let function = profile.location[location as usize - 1].line[0].function_id;
            let name = profile.function[function as usize - 1].name;
            profile.string_table[name as usize].clone()
        };
        assert_eq!(name_of(profile.sample[0].location_id[0]), "leaf");
        assert_eq!(name_of(profile.sample[0].location_id[1]), "root");
        let label = &profile.sample[0].label[0];
        assert_eq!(profile.string_table[label.key as usize], "thread");
        assert_eq!(profile.string_table[label.str as usize], "main");
        let sample_type = &profile.sample_type[0];
        assert_eq!(profile.string_table[sample_type.r#type as usize], "samples");
        assert_eq!(profile.period, 10);
    }
}
