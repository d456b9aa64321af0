"""HyperLogLog (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST), byte for byte Redis's."""
