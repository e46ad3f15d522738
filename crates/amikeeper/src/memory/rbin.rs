//! Recycle Bin retention rules and Image Builder recipes of the in-memory account.

use async_trait::async_trait;

use crate::backend::{AwsResult, ImageBuilderApi, RecycleBinApi};
use crate::model::{RecipeImage, RecycleBinResource, RecycleBinRule, Region};

use super::{ops, IntoRegion, MemoryAws};

impl MemoryAws {
    /// Adds a Recycle Bin retention rule to `region`.
    pub fn add_recycle_bin_rule(&self, region: impl IntoRegion, rule: RecycleBinRule) {
        let region = region.into_region();
        self.with_world(|world| world.region(&region).recycle_bin_rules.push(rule));
    }
}

#[async_trait]
impl RecycleBinApi for MemoryAws {
    async fn list_recycle_bin_rules(
        &self,
        region: &Region,
        resource_type: RecycleBinResource,
    ) -> AwsResult<Vec<RecycleBinRule>> {
        self.call(ops::LIST_RECYCLE_BIN_RULES, |world| {
            let rules = &world.region(region).recycle_bin_rules;
            Ok(rules.iter().filter(|rule| rule.resource_type == resource_type).cloned().collect())
        })
    }
}

#[async_trait]
impl ImageBuilderApi for MemoryAws {
    async fn list_recipe_images(&self, region: &Region) -> AwsResult<Vec<RecipeImage>> {
        self.call(ops::LIST_IMAGE_RECIPES, |world| {
            let recipes = &world.region(region).image_recipes;
            Ok(recipes
                .iter()
                .map(|(arn, image)| RecipeImage {
                    arn: arn.clone(),
                    resource_type: "imagebuilder:ImageRecipe".to_owned(),
                    image: image.as_str().to_owned(),
                })
                .collect())
        })
    }
}
