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
/// `valued`: keys carry a value pointer. Walks with its own stack (names from a dump may
/// nest as deep as they are long).
pub fn nodes(keys: &[&[u8]], valued: bool, f: &mut dyn FnMut(usize)) {
    if keys.is_empty() {
        f(node_len(0, false, false));
        return;
    }
    // (the keys under the node, as a range of `keys`; the bytes they share above it)
    let mut stack: Vec<(usize, usize, usize)> = vec![(0, keys.len(), 0)];
    while let Some((lo, hi, depth)) = stack.pop() {
        // a key that ends exactly here marks this node and is left out
        let (is_key, lo) = if keys[lo].len() == depth { (true, lo + 1) } else { (false, lo) };
        let valued_key = is_key && valued;
        if lo == hi {
            f(node_len(0, false, valued_key));
            continue;
        }
        let (a, b) = (keys[lo], keys[hi - 1]);
        if a[depth] == b[depth] {
            // one way on: compress the bytes every key shares
            let mut p = depth;
            while p < a.len() && p < b.len() && a[p] == b[p] {
                p += 1;
            }
            f(node_len(p - depth, true, valued_key));
            stack.push((lo, hi, p));
            continue;
        }
        // a branching node: one child per distinct next byte
        let mut children = 0;
        let mut start = lo;
        for i in lo + 1..=hi {
            if i == hi || keys[i][depth] != keys[start][depth] {
                stack.push((start, i, depth + 1));
                children += 1;
                start = i;
            }
        }
        f(node_len(children, false, valued_key));
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

    #[test]
    fn keys_that_are_prefixes_of_others_and_deep_nesting() {
        // "a" is a key on the compressed node of "ab": a, then b, then a leaf
        assert_eq!(count(&[b"a", b"ab"]), 3);
        // a name nested 100k deep does not take the stack with it
        let names: Vec<Vec<u8>> = (1..=2000).map(|n| vec![b'a'; n]).collect();
        let keys: Vec<&[u8]> = names.iter().map(|k| k.as_slice()).collect();
        assert_eq!(count(&keys), 2001);
        let long = vec![b'x'; 100_000];
        let mut lens = Vec::new();
        nodes(&[&long], true, &mut |l| lens.push(l));
        assert_eq!(lens.len(), 2);
    }
}
