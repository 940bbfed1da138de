//! [`Info`] as one JSON object.

use super::Info;
use crate::encode::text::{json_bytes_field, json_list, json_object, json_str};
use crate::input::envelope::Envelope;

impl Info {
    /// The report as one JSON object (`info --json`), about the dump at `f`.
    pub fn to_json(&self, f: &std::path::Path, env: Option<&Envelope>) -> Vec<u8> {
        let i = self;
        let mut o = Vec::new();
        let n = |o: &mut Vec<u8>, x: u64| o.extend_from_slice(x.to_string().as_bytes());
        o.extend_from_slice(b"{\"file\":");
        json_str(&mut o, &f.display().to_string());
        o.extend_from_slice(b",\"bytes\":");
        n(&mut o, i.file_bytes);
        o.extend_from_slice(b",\"envelope\":");
        match env {
            None => o.extend_from_slice(b"null"),
            Some(e) => {
                o.extend_from_slice(b"{\"magic\":\"VKCS\",\"version\":");
                n(&mut o, e.header.version as u64);
                o.extend_from_slice(b",\"codec\":");
                json_str(&mut o, e.header.codec.name());
                o.extend_from_slice(b",\"flags\":");
                n(&mut o, e.header.flags as u64);
                o.extend_from_slice(
                    format!(",\"block_checksums\":{}", e.block_checksums).as_bytes(),
                );
                o.extend_from_slice(
                    format!(",\"content_checksum\":{}", e.content_checksum).as_bytes(),
                );
                o.extend_from_slice(b",\"compressed_bytes\":");
                n(&mut o, e.compressed_bytes);
                o.extend_from_slice(b",\"decompressed_bytes\":");
                n(&mut o, e.decompressed_bytes);
                o.extend_from_slice(b",\"trailing_bytes\":");
                n(&mut o, e.trailing_bytes);
                o.push(b'}');
            }
        }
        o.extend_from_slice(b",\"magic\":");
        json_str(&mut o, &i.header.describe());
        o.extend_from_slice(b",\"dialect\":");
        json_str(&mut o, i.header.dialect.name());
        o.extend_from_slice(b",\"version\":");
        n(&mut o, i.header.version as u64);
        o.extend_from_slice(b",\"checksum\":");
        json_str(&mut o, i.checksum);
        o.extend_from_slice(b",\"trailing_bytes\":");
        n(&mut o, i.trailing_bytes);
        o.extend_from_slice(b",\"odd_but_loadable\":");
        json_object(&mut o, i.oddities.iter().map(|(odd, c)| (odd.name(), c)), n);
        o.extend_from_slice(b",\"filtered\":");
        n(&mut o, i.filtered);
        o.extend_from_slice(b",\"aux\":");
        json_list(&mut o, &i.aux, |o, (k, v)| {
            o.push(b'{');
            json_bytes_field(o, "name", k);
            o.push(b',');
            json_bytes_field(o, "value", v);
            o.push(b'}');
        });
        o.extend_from_slice(b",\"dbs\":{");
        for (j, (db, s)) in i.dbs.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            json_str(&mut o, &db.to_string());
            o.extend_from_slice(b":{\"keys\":");
            n(&mut o, s.keys);
            o.extend_from_slice(b",\"expires\":");
            n(&mut o, s.expires);
            o.extend_from_slice(b",\"already_expired\":");
            n(&mut o, s.already_expired);
            o.extend_from_slice(b",\"bytes\":");
            n(&mut o, s.bytes);
            for (name, map) in
                [("types", &s.types), ("types_live", &s.types_live), ("encodings", &s.encodings)]
            {
                o.extend_from_slice(format!(",\"{name}\":").as_bytes());
                json_object(&mut o, map, |o, c| n(o, *c));
            }
            o.push(b'}');
        }
        o.extend_from_slice(b"},\"functions\":");
        json_list(&mut o, &i.functions, |o, f| json_str(o, f));
        o.extend_from_slice(b",\"module_aux\":");
        json_list(&mut o, &i.module_aux, |o, m| json_str(o, m));
        o.extend_from_slice(b",\"module_types\":");
        json_object(&mut o, &i.module_types, |o, c| n(o, *c));
        o.extend_from_slice(b",\"streams_with_idmp\":");
        n(&mut o, i.streams_with_idmp);
        o.extend_from_slice(b",\"keys_with_metadata\":");
        n(&mut o, i.keys_with_metadata);
        o.extend_from_slice(b",\"hash_templates\":");
        n(&mut o, i.templates);
        o.extend_from_slice(b",\"nacked_ids\":");
        n(&mut o, i.nacked_ids);
        o.extend_from_slice(b",\"enterprise_opcodes\":");
        json_list(&mut o, &i.enterprise_opcodes, |o, (op, name, c)| {
            o.extend_from_slice(b"{\"opcode\":");
            n(o, *op as u64);
            o.extend_from_slice(b",\"name\":");
            json_str(o, name);
            o.extend_from_slice(b",\"count\":");
            n(o, *c);
            o.push(b'}');
        });
        o.extend_from_slice(b",\"biggest\":");
        json_list(&mut o, &i.biggest, |o, b| {
            o.extend_from_slice(b"{\"db\":");
            n(o, b.db);
            o.push(b',');
            json_bytes_field(o, "key", &b.key);
            o.extend_from_slice(b",\"type\":");
            json_str(o, &b.kind);
            o.extend_from_slice(b",\"encoding\":");
            json_str(o, &b.encoding);
            o.extend_from_slice(b",\"bytes\":");
            n(o, b.bytes);
            o.push(b'}');
        });
        o.extend_from_slice(b"}\n");
        o
    }
}
