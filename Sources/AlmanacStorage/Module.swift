public enum AlmanacStorageModule {}
