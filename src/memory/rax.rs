//! The nodes of a rax (`rax.c`), the radix tree streams keep their listpacks, PELs,
//! consumers and groups in. An insert-only rax has one shape for a given key set: every
//! run of bytes no key branches in is one compressed node, every branching point is a
//! node, and every key ends at a node (a leaf, when nothing continues).

/// The length of a rax node holding `size` bytes (`rax.c:raxNodeCurrentLength`): a 4-byte
/// header, the bytes padded to a pointer boundary, one child pointer if compressed or one
/// per byte, and a value pointer if a key ends here with a value.
fn node_len(size: usize, compressed: bool, valued_key: bool) -> usize {
    let pad = (8 - (size + 4) % 8) % 8;
    let children = if compressed { 8 } else { 8 * size };
    4 + size + pad + children + if valued_key { 8 } else { 0 }
}

/// Calls `f` with the length of every node of the rax holding `keys` (sorted, distinct).
/// `valued`: keys carry a value pointer.
pub fn nodes(keys: &[&[u8]], valued: bool, f: &mut dyn FnMut(usize)) {
    if keys.is_empty() {
        f(node_len(0, false, false));
        return;
    }
    walk(keys, 0, false, valued, f);
}

/// The node for `keys` (sorted, distinct, sharing their first `depth` bytes), whose own
/// key flag is `is_key`.
fn walk(keys: &[&[u8]], depth: usize, is_key: bool, valued: bool, f: &mut dyn FnMut(usize)) {
    // a key that ends exactly here marks this node and is left out
    let (is_key, keys) = match keys.first() {
        Some(k) if k.len() == depth => (true, &keys[1..]),
        _ => (is_key, keys),
    };
    let valued_key = is_key && valued;
    if keys.is_empty() {
        f(node_len(0, false, valued_key));
        return;
    }
    let first = keys[0][depth];
    let last = keys[keys.len() - 1][depth];
    if first == last {
        // one way on: compress the bytes every key shares
        let (a, b) = (keys[0], keys[keys.len() - 1]);
        let mut p = depth;
        while p < a.len() && p < b.len() && a[p] == b[p] {
            p += 1;
        }
        f(node_len(p - depth, true, valued_key));
        walk(keys, p, false, valued, f);
        return;
    }
    // a branching node: one child per distinct next byte
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i][depth] != keys[start][depth] {
            groups.push(start..i);
            start = i;
        }
    }
    f(node_len(groups.len(), false, valued_key));
    for g in groups {
        walk(&keys[g], depth + 1, false, valued, f);
    }
}

/// How many nodes (Redis ≤ 8.0's `numnodes`).
pub fn count(keys: &[&[u8]]) -> u64 {
    let mut n = 0;
    nodes(keys, true, &mut |_| n += 1);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> Vec<u8> {
        [ms.to_be_bytes(), seq.to_be_bytes()].concat()
    }

    #[test]
    fn node_counts_as_xinfo_shows_them() {
        // XINFO STREAM radix-tree-nodes: one ID is 2 nodes
        let one = [id(1, 0)];
        let keys: Vec<&[u8]> = one.iter().map(|k| k.as_slice()).collect();
        assert_eq!(count(&keys), 2);
        // 1-0, 101-0, ..., 901-0: 26 nodes
        let ids: Vec<Vec<u8>> = (0..10).map(|i| id(1 + 100 * i, 0)).collect();
        let keys: Vec<&[u8]> = ids.iter().map(|k| k.as_slice()).collect();
        assert_eq!(count(&keys), 26);
        assert_eq!(count(&[]), 1);
    }
}
