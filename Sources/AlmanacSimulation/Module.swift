public enum AlmanacSimulationModule {}
