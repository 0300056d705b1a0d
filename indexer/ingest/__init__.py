"""From a file on disk to an analysed document: discover, read, decode, normalize, tag."""
