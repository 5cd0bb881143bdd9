public enum AlmanacPlacementModule {}
