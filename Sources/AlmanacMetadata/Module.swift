public enum AlmanacMetadataModule {}
