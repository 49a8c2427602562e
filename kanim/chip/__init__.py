"""Electronic passports: the chip's content (ICAO Doc 9303 Part 10, LDS 1.7), its security
object signed by the office's Document Signer, the PKI behind it (Part 12), and Passive
Authentication as a border does it (Part 11). docs/chip.md explains the key ceremonies."""
